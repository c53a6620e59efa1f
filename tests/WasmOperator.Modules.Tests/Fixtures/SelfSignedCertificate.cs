using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WasmOperator.Modules.Tests.Fixtures;

/// <summary>A self-signed server certificate for 127.0.0.1 and localhost, or for another name only.</summary>
internal static class SelfSignedCertificate
{
    /// <summary>
    /// Valid from yesterday to tomorrow, or, when <paramref name="expired"/>, until yesterday. With <paramref name="otherName"/>
    /// it names only that DNS name, so a client of 127.0.0.1 finds the name wrong too.
    /// </summary>
    public static X509Certificate2 Create(bool expired = false, string? otherName = null)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={otherName ?? "127.0.0.1"}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        if (otherName is not null)
        {
            san.AddDnsName(otherName);
        }
        else
        {
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(expired ? -3 : -1), DateTimeOffset.UtcNow.AddDays(expired ? -1 : 1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}
