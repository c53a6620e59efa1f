using WasmOperator.Api.Tests.Fixtures;
using WasmOperator.Validation;

namespace WasmOperator.Api.Tests.Validation;

/// <summary>
/// Every rule of the WasmPlugin CRD, each broken on purpose: the generated CRD, applied by the generic
/// validator, must reject the manifest with kube-apiserver's field path and wording.
/// </summary>
public sealed class InvalidManifestTests
{
    private const string Url = "url: oci://registry.local:5000/wasm/add_header:v1";
    private const string Digest = "5b1c3e4a8f9d0b7e6c2a1f3d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a";
    private const string OtherDigest = "0e7d3b9a4c1f2e8d6b5a4c3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d";
    private const string NotChecked = "<nil>: Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

    public static TheoryData<string, string, string> Cases => new()
    {
        // Required fields.
        { "url is required", "pluginName: add_header", "spec.url: Required value" },
        { "a null url counts as missing", "url: null", "spec.url: Required value" },
        { "targetRef name is required", $"{Url}\ntargetRefs:\n- kind: Gateway", "spec.targetRefs[0].name: Required value" },
        { "env name is required", $"{Url}\nvmConfig:\n  env:\n  - value: x", "spec.vmConfig.env[0].name: Required value" },
        { "port number is required", $"{Url}\nmatch:\n- ports:\n  - {{}}", "spec.match[0].ports[0].number: Required value" },
        { "label requirement key is required", $"{Url}\nselector:\n  matchExpressions:\n  - operator: Exists", "spec.selector.matchExpressions[0].key: Required value" },

        // Patterns, lengths and list limits.
        { "sha256 must be 64 hex digits", $"{Url}\nsha256: abc", "spec.sha256: Invalid value: \"abc\": spec.sha256 in body should match '^$|^[a-f0-9]{64}$'" },
        { "sha256 must be lowercase", $"{Url}\nsha256: {Digest.ToUpperInvariant()}", $"spec.sha256: Invalid value: \"{Digest.ToUpperInvariant()}\": spec.sha256 in body should match '^$|^[a-f0-9]{{64}}$'" },
        { "url must not be empty", "url: \"\"", "spec.url: Invalid value: \"\": spec.url in body should be at least 1 chars long" },
        { "pluginName must not be empty", $"{Url}\npluginName: \"\"", "spec.pluginName: Invalid value: \"\": spec.pluginName in body should be at least 1 chars long" },
        { "pluginName has no line break (YAML's | keeps one at the end)", $"{Url}\npluginName: \"add_header\\n\"", "spec.pluginName: Invalid value: \"add_header\\n\": spec.pluginName in body should match '^$|^[^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?$'" },
        { "pluginName has no space at an end", $"{Url}\npluginName: \" add_header\"", "spec.pluginName: Invalid value: \" add_header\": spec.pluginName in body should match '^$|^[^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?$'" },
        { "pluginName is at most 256 characters", $"{Url}\npluginName: {new string('p', 257)}", "spec.pluginName: Too long: may not be longer than 256" },
        { "imagePullSecret is at most 253 characters", $"{Url}\nimagePullSecret: {new string('s', 254)}", "spec.imagePullSecret: Too long: may not be longer than 253" },
        { "imagePullSecret must not be empty", $"{Url}\nimagePullSecret: \"\"", "spec.imagePullSecret: Invalid value: \"\": spec.imagePullSecret in body should be at least 1 chars long" },
        { "at most 16 targetRefs", $"{Url}\ntargetRefs:\n{string.Concat(Enumerable.Range(0, 17).Select(i => $"- {{kind: Gateway, name: gw{i}}}\n"))}", "spec.targetRefs: Too many: 17: must have at most 16 items" },
        { "at most 256 env variables", $"{Url}\nvmConfig:\n  env:\n{string.Concat(Enumerable.Range(0, 257).Select(i => $"  - {{name: V{i}, value: x}}\n"))}", "spec.vmConfig.env: Too many: 257: must have at most 256 items" },
        { "at most 32 canary steps", $"{Url}\nrollout:\n  canary:\n    steps:\n{string.Concat(Enumerable.Range(0, 33).Select(_ => "    - setWeight: 10\n"))}", "spec.rollout.canary.steps: Too many: 33: must have at most 32 items" },
        { "targetRef kind must be a kind name", $"{Url}\ntargetRefs:\n- {{kind: 9gateway, name: gw}}", "spec.targetRefs[0].kind: Invalid value: \"9gateway\": spec.targetRefs[0].kind in body should match '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$'" },

        // Enums.
        { "phase must be an Istio phase", $"{Url}\nphase: LOGGING", "spec.phase: Unsupported value: \"LOGGING\": supported values: \"UNSPECIFIED_PHASE\", \"AUTHN\", \"AUTHZ\", \"STATS\"" },
        { "failStrategy must be known", $"{Url}\nfailStrategy: FAIL_SILENTLY", "spec.failStrategy: Unsupported value: \"FAIL_SILENTLY\": supported values: \"FAIL_CLOSE\", \"FAIL_OPEN\", \"FAIL_RELOAD\"" },
        { "imagePullPolicy must be known", $"{Url}\nimagePullPolicy: Never", "spec.imagePullPolicy: Unsupported value: \"Never\": supported values: \"UNSPECIFIED_POLICY\", \"IfNotPresent\", \"Always\"" },
        { "type must be known", $"{Url}\ntype: GRPC", "spec.type: Unsupported value: \"GRPC\": supported values: \"UNSPECIFIED_PLUGIN_TYPE\", \"HTTP\", \"NETWORK\"" },
        { "mode must be known", $"{Url}\nmode: DRY_RUN", "spec.mode: Unsupported value: \"DRY_RUN\": supported values: \"ENFORCE\", \"LOG_ONLY\"" },
        { "env valueFrom must be known", $"{Url}\nvmConfig:\n  env:\n  - {{name: A, valueFrom: FILE}}", "spec.vmConfig.env[0].valueFrom: Unsupported value: \"FILE\": supported values: \"INLINE\", \"HOST\"" },
        { "match mode must be known", $"{Url}\nmatch:\n- mode: INBOUND", "spec.match[0].mode: Unsupported value: \"INBOUND\": supported values: \"UNDEFINED\", \"CLIENT\", \"SERVER\", \"CLIENT_AND_SERVER\"" },
        { "label operator must be known", $"{Url}\nselector:\n  matchExpressions:\n  - {{key: app, operator: Equals}}", "spec.selector.matchExpressions[0].operator: Unsupported value: \"Equals\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"" },

        // Types (a type error stops the CEL rules, as in kube-apiserver).
        { "priority must be an integer", $"{Url}\npriority: high", $"spec.priority: Invalid value: \"string\": spec.priority in body must be of type integer: \"string\"\n{NotChecked}" },
        { "pluginConfig must be an object", $"{Url}\npluginConfig: just-a-string", $"spec.pluginConfig: Invalid value: \"string\": spec.pluginConfig in body must be of type object: \"string\"\n{NotChecked}" },
        { "matchLabels values must be strings", $"{Url}\nselector:\n  matchLabels:\n    replicas: 3", $"spec.selector.matchLabels.replicas: Invalid value: \"integer\": spec.selector.matchLabels.replicas in body must be of type string: \"integer\"\n{NotChecked}" },
        { "setWeight must be an integer", $"{Url}\nrollout:\n  canary:\n    steps:\n    - setWeight: 12.5", $"spec.rollout.canary.steps[0].setWeight: Invalid value: \"number\": spec.rollout.canary.steps[0].setWeight in body must be of type integer: \"number\"\n{NotChecked}" },

        // List-map uniqueness.
        { "env names are list-map keys", $"{Url}\nvmConfig:\n  env:\n  - {{name: A, value: x}}\n  - {{name: A, value: y}}", "spec.vmConfig.env[1]: Duplicate value: map[string]interface {}{\"name\":\"A\"}\nspec.vmConfig.env: Invalid value: \"array\": env variable names must be unique" },

        // CEL rules.
        { "selector and targetRefs are exclusive", $"{Url}\nselector:\n  matchLabels: {{app: web}}\ntargetRefs:\n- {{kind: Gateway, name: gw}}", "spec: Invalid value: \"object\": only one of targetRefs or selector can be set" },
        { "selector and targetRef are exclusive", $"{Url}\nselector:\n  matchLabels: {{app: web}}\ntargetRef: {{kind: Gateway, name: gw}}", "spec: Invalid value: \"object\": only one of targetRefs or selector can be set" },
        { "url scheme must be oci, https, http or file", "url: ftp://example.com/plugin.wasm", "spec.url: Invalid value: \"string\": url must have schema one of [http, https, file, oci]" },
        { "url scheme is checked case-sensitively", "url: OCI://registry/plugin:v1", "spec.url: Invalid value: \"string\": url must have schema one of [http, https, file, oci]" },
        { "sha256 must equal the digest in the url", $"url: oci://registry.local/wasm/auth@sha256:{Digest}\nsha256: {OtherDigest}", "spec.sha256: Invalid value: \"object\": sha256 must equal the @sha256: digest in the url" },
        { "an oci digest in the url must be a full sha256", "url: oci://registry.local/wasm/auth@sha256:abc", "spec.url: Invalid value: \"object\": an oci url (oci:// or no scheme) may only pin a digest as @sha256:<64 lowercase hex digits>" },
        { "a url without a scheme is oci and its digest must be a full sha256", $"url: registry.local/wasm/auth@sha256:{Digest.ToUpperInvariant()}", "spec.url: Invalid value: \"object\": an oci url (oci:// or no scheme) may only pin a digest as @sha256:<64 lowercase hex digits>" },
        { "env value only with INLINE", $"{Url}\nvmConfig:\n  env:\n  - {{name: POD_NAME, valueFrom: HOST, value: x}}", "spec.vmConfig.env[0].value: Invalid value: \"object\": value may only be set when valueFrom is INLINE" },
        { "port 0 is rejected", $"{Url}\nmatch:\n- ports:\n  - number: 0", "spec.match[0].ports[0].number: Invalid value: \"integer\": port must be between 1-65535" },
        { "port 65536 is rejected", $"{Url}\nmatch:\n- ports:\n  - number: 65536", "spec.match[0].ports[0].number: Invalid value: \"integer\": port must be between 1-65535" },
        { "setWeight above 100 is rejected", $"{Url}\nrollout:\n  canary:\n    steps:\n    - setWeight: 101", "spec.rollout.canary.steps[0].setWeight: Invalid value: \"integer\": setWeight must be between 0 and 100" },
        { "negative setWeight is rejected", $"{Url}\nrollout:\n  canary:\n    steps:\n    - setWeight: -5", "spec.rollout.canary.steps[0].setWeight: Invalid value: \"integer\": setWeight must be between 0 and 100" },
        { "a step cannot both set a weight and pause", $"{Url}\nrollout:\n  canary:\n    steps:\n    - setWeight: 10\n      pause: {{}}", "spec.rollout.canary.steps[0]: Invalid value: \"object\": each step must set exactly one of setWeight or pause" },
        { "an empty step is rejected", $"{Url}\nrollout:\n  canary:\n    steps:\n    - {{}}", "spec.rollout.canary.steps[0]: Invalid value: \"object\": each step must set exactly one of setWeight or pause" },
        { "pause duration must be a duration", $"{Url}\nrollout:\n  canary:\n    steps:\n    - pause: {{duration: 5 minutes}}", "spec.rollout.canary.steps[0].pause.duration: Invalid value: \"string\": duration must be a duration such as 30s, 5m or 1h30m" },
        { "analysis interval of at least 1s", $"{Url}\nrollout:\n  canary:\n    analysis: {{interval: 500ms}}", "spec.rollout.canary.analysis.interval: Invalid value: \"string\": interval must be a duration of at least 1s, such as 30s or 1m" },
        { "maxFailureRatio at most 1", $"{Url}\nrollout:\n  canary:\n    analysis: {{maxFailureRatio: 1.5}}", "spec.rollout.canary.analysis.maxFailureRatio: Invalid value: \"number\": maxFailureRatio must be between 0 and 1" },
        { "maxErrorRatio not negative", $"{Url}\nrollout:\n  canary:\n    analysis: {{maxErrorRatio: -0.1}}", "spec.rollout.canary.analysis.maxErrorRatio: Invalid value: \"number\": maxErrorRatio must be between 0 and 1" },
        { "failureLimit at least 1", $"{Url}\nrollout:\n  canary:\n    analysis: {{failureLimit: 0}}", "spec.rollout.canary.analysis.failureLimit: Invalid value: \"integer\": failureLimit must be at least 1" },
        { "minRequests not negative", $"{Url}\nrollout:\n  canary:\n    analysis: {{minRequests: -1}}", "spec.rollout.canary.analysis.minRequests: Invalid value: \"integer\": minRequests must not be negative" },
        { "maxMemoryBytes at least 1 MiB", $"{Url}\nlimits: {{maxMemoryBytes: 1024}}", "spec.limits.maxMemoryBytes: Invalid value: \"integer\": maxMemoryBytes must be at least 1048576 (1 MiB)" },
        { "maxCallDuration at most 10s", $"{Url}\nlimits: {{maxCallDuration: 1m}}", "spec.limits.maxCallDuration: Invalid value: \"string\": maxCallDuration must be a duration between 1ms and 10s, such as 100ms" },
        { "no wildcard in label keys (Istio's rule)", "url: oci://r/x:v1\nselector:\n  matchLabels:\n    \"app*\": web", "spec.selector.matchLabels: Invalid value: \"object\": wildcard not allowed in label key match" },
        { "no empty label key (Istio's rule)", "url: oci://r/x:v1\nselector:\n  matchLabels:\n    \"\": web", "spec.selector.matchLabels: Invalid value: \"object\": key must not be empty" },
        { "In needs values", $"{Url}\nselector:\n  matchExpressions:\n  - {{key: app, operator: In}}", "spec.selector.matchExpressions[0].values: Invalid value: \"object\": values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist" },
        { "Exists takes no values", $"{Url}\nselector:\n  matchExpressions:\n  - {{key: app, operator: Exists, values: [a]}}", "spec.selector.matchExpressions[0].values: Invalid value: \"object\": values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Invalid_manifest_is_rejected_with_the_field_path_and_message_kube_uses(string rule, string spec, string expected)
    {
        var result = WasmPluginCrd.Validate(spec);

        Assert.False(result.IsValid, $"{rule}: the manifest was accepted");
        Assert.Equal(expected, string.Join("\n", result.Errors.Select(e => e.ToString())));
    }

    [Fact]
    public void The_table_covers_every_CEL_rule_in_the_generated_CRD()
    {
        var messages = new List<string>();
        Collect(WasmPluginCrd.Schema, messages);
        var expected = string.Join("\n", Cases.Select(c => (string)c[2]));

        Assert.NotEmpty(messages);
        Assert.All(messages, message => Assert.Contains(message, expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_spec_is_required()
    {
        var result = WasmPluginCrd.Validator.Validate(new System.Text.Json.Nodes.JsonObject
        {
            ["apiVersion"] = "extensions.wasmoperator.io/v1alpha1",
            ["kind"] = "WasmPlugin",
        });

        Assert.Equal(["spec: Required value"], result.Errors.Select(e => e.ToString()));
        Assert.Equal(FieldErrorReasons.Required, result.Errors[0].Reason);
    }

    private static void Collect(System.Text.Json.Nodes.JsonNode? node, List<string> messages)
    {
        switch (node)
        {
            case System.Text.Json.Nodes.JsonObject obj:
                if (obj["x-kubernetes-validations"] is System.Text.Json.Nodes.JsonArray rules)
                {
                    messages.AddRange(rules.Select(r => (string)r!["message"]!));
                }

                foreach (var (_, child) in obj)
                {
                    Collect(child, messages);
                }

                break;
            case System.Text.Json.Nodes.JsonArray array:
                foreach (var item in array)
                {
                    Collect(item, messages);
                }

                break;
            default:
                break;
        }
    }
}
