using System.Text.Json.Nodes;
using WasmOperator.Validation.Schema;

namespace WasmOperator.Validation.Cel;

/// <summary>Walks an object with its schema and evaluates every <c>x-kubernetes-validations</c> rule on the node it sits on.</summary>
internal static class RuleValidator
{
    public static void Validate(JsonNode? node, JsonNode? old, SchemaNode schema, string path, List<FieldError> errors)
    {
        if (node is null)
        {
            return;
        }

        if (schema.Rules.Count > 0)
        {
            var self = CelValues.FromJson(node, schema);
            var oldSelf = old is null ? null : CelValues.FromJson(old, schema);
            foreach (var rule in schema.Rules)
            {
                if (rule.IsTransitionRule && old is null)
                {
                    continue;
                }

                Evaluate(rule, self, oldSelf, schema, path, errors);
            }
        }

        switch (node)
        {
            case JsonObject obj:
                var oldObj = old as JsonObject;
                foreach (var (key, value) in obj)
                {
                    var oldValue = oldObj?[key];
                    if (schema.Properties.TryGetValue(key, out var property))
                    {
                        Validate(value, oldValue, property, FieldPath.Child(path, key), errors);
                    }
                    else if (schema.AdditionalProperties is { } additional)
                    {
                        Validate(value, oldValue, additional, FieldPath.Key(path, key), errors);
                    }
                }

                break;
            case JsonArray array when schema.Items is { } items:
                for (var i = 0; i < array.Count; i++)
                {
                    Validate(array[i], OldItem(array[i], old as JsonArray, schema), items, FieldPath.Index(path, i), errors);
                }

                break;
            default:
                break;
        }
    }

    /// <summary>kube correlates old and new items only in map lists, by their keys.</summary>
    private static JsonNode? OldItem(JsonNode? item, JsonArray? old, SchemaNode schema)
    {
        if (old is null || schema.ListType != "map" || schema.ListMapKeys.Count == 0 || item is not JsonObject obj)
        {
            return null;
        }

        return old.FirstOrDefault(o => o is JsonObject candidate
            && schema.ListMapKeys.All(k => JsonNode.DeepEquals(candidate[k], obj[k])));
    }

    private static void Evaluate(CelRule rule, object? self, object? oldSelf, SchemaNode schema, string path, List<FieldError> errors)
    {
        var activation = new Dictionary<string, object?>(StringComparer.Ordinal) { ["self"] = self };
        if (rule.IsTransitionRule)
        {
            activation["oldSelf"] = oldSelf;
        }

        var target = FieldPath.Append(path, rule.FieldPath);
        if (target.Length == 0)
        {
            // A rule on the root object: kube prints its nil field.Path as "<nil>".
            target = "<nil>";
        }

        object? result;
        try
        {
            result = rule.Program.Evaluate(activation);
        }
        catch (CelException e)
        {
            errors.Add(new FieldError(target, FieldErrorReasons.Invalid, e.Message, JsonValue.Create(schema.TypeName)));
            return;
        }

        if (result is not bool passed)
        {
            errors.Add(new FieldError(target, FieldErrorReasons.Invalid, $"rule \"{rule.Rule}\" must evaluate to a bool", JsonValue.Create(schema.TypeName)));
            return;
        }

        if (passed)
        {
            return;
        }

        var message = rule.Message is { Length: > 0 } m ? m : $"failed rule: {rule.Rule}";
        if (rule.MessageProgram is { } messageProgram)
        {
            try
            {
                if (messageProgram.Evaluate(activation) is string { Length: > 0 } computed)
                {
                    message = computed;
                }
            }
            catch (CelException)
            {
                // kube falls back to the static message when messageExpression fails.
            }
        }

        var badValue = rule.Reason is FieldErrorReasons.Required or FieldErrorReasons.Forbidden ? null : JsonValue.Create(schema.TypeName);
        errors.Add(new FieldError(target, rule.Reason, message, badValue));
    }
}
