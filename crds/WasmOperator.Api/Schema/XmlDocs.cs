using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace WasmOperator.Api.Schema;

/// <summary>Reads the compiler's XML documentation file so that doc comments become CRD field descriptions.</summary>
internal sealed partial class XmlDocs
{
    private readonly Dictionary<string, string> _summaries = new(StringComparer.Ordinal);

    private XmlDocs(XDocument document)
    {
        foreach (var member in document.Descendants("member"))
        {
            var name = (string?)member.Attribute("name");
            var summary = member.Element("summary");
            if (name is null || summary is null)
            {
                continue;
            }

            var text = string.Concat(summary.Nodes().Select(n => n switch
            {
                XElement { Name.LocalName: "c" } c => c.Value,
                XElement { Name.LocalName: "see" } see => ((string?)see.Attribute("cref"))?.Split('.').Last() ?? see.Value,
                XElement e => e.Value,
                _ => n.ToString(),
            }));
            _summaries[name] = Whitespace().Replace(System.Net.WebUtility.HtmlDecode(text), " ").Trim();
        }
    }

    public static XmlDocs For(Assembly assembly)
    {
        var path = Path.ChangeExtension(assembly.Location, ".xml");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"The XML documentation of {assembly.GetName().Name} is missing at {path}; it holds the CRD's descriptions (GenerateDocumentationFile).", path);
        }

        return new XmlDocs(XDocument.Load(path));
    }

    public string? Of(Type type) => _summaries.GetValueOrDefault($"T:{type.FullName}");

    public string? Of(PropertyInfo property) => _summaries.GetValueOrDefault($"P:{property.DeclaringType!.FullName}.{property.Name}");

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
