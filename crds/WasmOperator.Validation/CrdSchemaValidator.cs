using System.Text.Json.Nodes;
using WasmOperator.Validation.Cel;
using WasmOperator.Validation.Schema;

namespace WasmOperator.Validation;

/// <summary>
/// Applies a CRD's openAPIV3Schema to objects the way kube-apiserver does: prune unknown fields,
/// apply defaults, check the schema, enforce list-type set/map uniqueness, then evaluate the
/// <c>x-kubernetes-validations</c> CEL rules. Knows nothing about any particular kind.
/// </summary>
public sealed class CrdSchemaValidator
{
    private readonly SchemaNode _root;

    private CrdSchemaValidator(SchemaNode root) => _root = root;

    /// <summary>Builds a validator from an <c>apiextensions.k8s.io/v1</c> CustomResourceDefinition.</summary>
    /// <param name="crd">The CRD as JSON.</param>
    /// <param name="version">The served version whose schema to apply, e.g. <c>v1alpha1</c>.</param>
    /// <exception cref="ArgumentException">The CRD has no such version or it has no schema.</exception>
    public static CrdSchemaValidator FromCrd(JsonNode crd, string version)
    {
        ArgumentNullException.ThrowIfNull(crd);
        var versions = crd["spec"]?["versions"] as JsonArray
            ?? throw new ArgumentException("the CRD has no spec.versions", nameof(crd));
        var match = versions.FirstOrDefault(v => (string?)v?["name"] == version)
            ?? throw new ArgumentException($"the CRD has no version \"{version}\"", nameof(version));
        var schema = match["schema"]?["openAPIV3Schema"]
            ?? throw new ArgumentException($"version \"{version}\" of the CRD has no schema.openAPIV3Schema", nameof(crd));
        return FromSchema(schema);
    }

    /// <summary>Builds a validator from a bare openAPIV3Schema.</summary>
    /// <exception cref="ArgumentException">The schema is malformed or one of its CEL rules does not compile.</exception>
    public static CrdSchemaValidator FromSchema(JsonNode openApiV3Schema) => new(SchemaNode.Parse(openApiV3Schema));

    /// <summary>Prunes and defaults a copy of <paramref name="obj"/>, then validates the copy.</summary>
    /// <param name="obj">The object as received (not modified).</param>
    /// <param name="oldObj">The stored object on update, for transition rules that use <c>oldSelf</c>.</param>
    public ValidationResult Validate(JsonObject obj, JsonObject? oldObj = null)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var copy = (JsonObject)obj.DeepClone();
        var pruned = new List<string>();
        Pruner.Prune(copy, _root, isRoot: true, pruned);
        pruned.Sort(StringComparer.Ordinal);
        Pruner.Default(copy, _root);

        var errors = new List<FieldError>();
        OpenApiValidator.Validate(copy, _root, string.Empty, errors);
        ListTypeValidator.Validate(copy, _root, string.Empty, errors);

        if (errors.Exists(e => e.Reason == FieldErrorReasons.TypeInvalid))
        {
            // kube-apiserver skips CEL when the object does not even have the right shape.
            errors.Add(new FieldError("<nil>", FieldErrorReasons.Invalid,
                "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
                null));
        }
        else
        {
            JsonObject? oldCopy = null;
            if (oldObj is not null)
            {
                oldCopy = (JsonObject)oldObj.DeepClone();
                Pruner.Prune(oldCopy, _root, isRoot: true);
                Pruner.Default(oldCopy, _root);
            }

            RuleValidator.Validate(copy, oldCopy, _root, string.Empty, errors);
        }

        return new ValidationResult(copy, errors) { PrunedFields = pruned };
    }
}
