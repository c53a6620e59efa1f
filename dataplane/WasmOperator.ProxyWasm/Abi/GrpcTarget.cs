using System.Text;
using Google.Protobuf;
using WasmOperator.ProxyWasm.Host;

namespace WasmOperator.ProxyWasm.Abi;

/// <summary>
/// Where a gRPC callout goes, read from the upstream bytes of <c>proxy_grpc_call</c>/<c>proxy_grpc_stream</c> as
/// Envoy reads them (<c>Context::grpcCall</c>, <c>Context::grpcStream</c>): first as a serialized
/// <c>envoy.config.core.v3.GrpcService</c> (what the C++ SDK's examples pass), and only if the bytes do not parse
/// as one, as a bare cluster name (what the Rust and AssemblyScript SDKs pass).
/// </summary>
/// <param name="Cluster">The cluster: <c>envoy_grpc.cluster_name</c>, or the bare name.</param>
/// <param name="Authority"><c>envoy_grpc.authority</c>, or null (the cluster name is sent).</param>
/// <param name="InitialMetadata"><c>initial_metadata</c>, sent before the plugin's own (empty for a bare name).</param>
/// <param name="IsServiceConfig">Whether the bytes were a <c>GrpcService</c> rather than a cluster name.</param>
internal sealed record GrpcTarget(string Cluster, string? Authority, HeaderMap InitialMetadata, bool IsServiceConfig)
{
    // envoy/config/core/v3/grpc_service.proto and base.proto field numbers.
    private const int EnvoyGrpcField = 1;
    private const int InitialMetadataField = 5;
    private const int ClusterNameField = 1;
    private const int AuthorityField = 2;
    private const int HeaderKeyField = 1;
    private const int HeaderValueField = 2;
    private const int HeaderRawValueField = 3;

    /// <summary>Stands for a target not read because the hostcall failed first; never sent anywhere.</summary>
    public static GrpcTarget Unread { get; } = new("", null, new HeaderMap(0), IsServiceConfig: false);

    /// <summary>proto3 strings are checked UTF-8 by Envoy's parser: bytes that are not fail the parse.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Reads the target. False when the bytes are a <c>GrpcService</c> without <c>envoy_grpc</c>: Envoy would build a
    /// Google gRPC client for <c>google_grpc</c>, which this host has not got, and has no client for neither
    /// (its <c>getOrCreateRawAsyncClient</c> fails: BAD_ARGUMENT).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> upstream, out GrpcTarget target)
    {
        if (!TryParseService(upstream, out var service))
        {
            target = new GrpcTarget(Encoding.UTF8.GetString(upstream), null, new HeaderMap(0), IsServiceConfig: false);
            return true;
        }

        target = service ?? new GrpcTarget("", null, new HeaderMap(0), IsServiceConfig: true);
        return service is not null;
    }

    /// <summary>
    /// False when the bytes are not a serialized <c>GrpcService</c>; otherwise the target, or null when it names no
    /// Envoy gRPC cluster. The other fields are skipped (their wire format checked, not their contents): Envoy's raw
    /// client does not use <c>timeout</c> (the plugin's own applies), and this proxy has no retries.
    /// </summary>
    private static bool TryParseService(ReadOnlySpan<byte> bytes, out GrpcTarget? target)
    {
        target = null;
        string? cluster = null;
        string? authority = null;
        var metadata = new HeaderMap(0);
        try
        {
            var input = new CodedInputStream(bytes.ToArray());
            for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
            {
                if (tag == Delimited(EnvoyGrpcField))
                {
                    // A repeated singular message merges: later fields win, as in protobuf.
                    ReadEnvoyGrpc(input.ReadBytes(), ref cluster, ref authority);
                }
                else if (tag == Delimited(InitialMetadataField))
                {
                    ReadHeaderValue(input.ReadBytes(), metadata);
                }
                else
                {
                    Skip(input, tag);
                }
            }
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or DecoderFallbackException or FormatException)
        {
            return false;
        }

        if (cluster is not null)
        {
            target = new GrpcTarget(cluster, string.IsNullOrEmpty(authority) ? null : authority, metadata, IsServiceConfig: true);
        }

        return true;
    }

    private static void ReadEnvoyGrpc(ByteString bytes, ref string? cluster, ref string? authority)
    {
        cluster ??= "";
        var input = bytes.CreateCodedInput();
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            if (tag == Delimited(ClusterNameField))
            {
                cluster = StrictUtf8.GetString(input.ReadBytes().Span);
            }
            else if (tag == Delimited(AuthorityField))
            {
                authority = StrictUtf8.GetString(input.ReadBytes().Span);
            }
            else
            {
                Skip(input, tag);
            }
        }
    }

    /// <summary>
    /// One <c>HeaderValue</c>, added as Envoy's header parser adds configured metadata (an existing name is replaced);
    /// <c>raw_value</c> is taken when <c>value</c> is empty.
    /// </summary>
    private static void ReadHeaderValue(ByteString bytes, HeaderMap metadata)
    {
        var input = bytes.CreateCodedInput();
        var key = "";
        var value = "";
        var raw = "";
        for (var tag = input.ReadTag(); tag != 0; tag = input.ReadTag())
        {
            if (tag == Delimited(HeaderKeyField))
            {
                key = StrictUtf8.GetString(input.ReadBytes().Span);
            }
            else if (tag == Delimited(HeaderValueField))
            {
                value = StrictUtf8.GetString(input.ReadBytes().Span);
            }
            else if (tag == Delimited(HeaderRawValueField))
            {
                raw = Encoding.Latin1.GetString(input.ReadBytes().Span);
            }
            else
            {
                Skip(input, tag);
            }
        }

        if (key.Length > 0)
        {
            metadata.Set(key, value.Length > 0 ? value : raw);
        }
    }

    /// <summary>
    /// Skips a field this reader does not take. Wire types 6 and 7 do not exist: protobuf's own parser fails on them,
    /// CodedInputStream.SkipLastField lets them pass (which read "nope" as a GrpcService).
    /// </summary>
    private static void Skip(CodedInputStream input, uint tag)
    {
        if ((int)WireFormat.GetTagWireType(tag) > (int)WireFormat.WireType.Fixed32)
        {
            throw new FormatException($"invalid wire type in tag {tag}");
        }

        input.SkipLastField();
    }

    private static uint Delimited(int field) => WireFormat.MakeTag(field, WireFormat.WireType.LengthDelimited);
}
