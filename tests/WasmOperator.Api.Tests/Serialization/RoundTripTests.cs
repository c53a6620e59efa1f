using System.Text.Json.Nodes;
using WasmOperator.Api.Serialization;
using WasmOperator.Api.Tests.Fixtures;
using WasmOperator.Api.WasmPlugins;

namespace WasmOperator.Api.Tests.Serialization;

public sealed class RoundTripTests
{
    /// <summary>Every field of the API, spec and status, plus unknown fields nested inside pluginConfig.</summary>
    private const string EveryField = """
        apiVersion: extensions.wasmoperator.io/v1alpha1
        kind: WasmPlugin
        metadata:
          name: everything
          namespace: shop
          labels:
            app: frontend
          annotations:
            extensions.wasmoperator.io/promote: "true"
          generation: 7
          resourceVersion: "4711"
          uid: 0b0f5a3e-3c55-4b1a-9a2e-8c1e6f7d9a10
          creationTimestamp: "2026-11-28T03:00:00Z"
          finalizers:
            - extensions.wasmoperator.io/cleanup
        spec:
          selector:
            matchLabels:
              app: frontend
            matchExpressions:
              - key: tier
                operator: In
                values: [web, edge]
          targetRef:
            group: gateway.networking.k8s.io
            kind: Gateway
            name: edge
          targetRefs:
            - group: gateway.networking.k8s.io
              kind: Gateway
              name: edge
              namespace: shop
          url: oci://registry.local:5000/wasm/add_header@sha256:5b1c3e4a8f9d0b7e6c2a1f3d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a
          sha256: 5b1c3e4a8f9d0b7e6c2a1f3d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a
          imagePullPolicy: Always
          imagePullSecret: pull
          verificationKey: "-----BEGIN PUBLIC KEY-----"
          pluginConfig:
            header: x-version
            count: 3
            ratio: 0.25
            enabled: true
            nothing: null
            nested:
              unknownDeep:
                list: [1, "two", {three: 3}]
          pluginName: add_header
          phase: AUTHZ
          priority: -10
          failStrategy: FAIL_RELOAD
          vmConfig:
            env:
              - name: A
                valueFrom: INLINE
                value: "1"
              - name: POD_NAME
                valueFrom: HOST
          match:
            - mode: CLIENT_AND_SERVER
              ports:
                - number: 8080
          type: NETWORK
          mode: LOG_ONLY
          rollout:
            canary:
              selector:
                matchLabels:
                  track: canary
              steps:
                - setWeight: 20
                - pause:
                    duration: 1m
                - pause: {}
              analysis:
                interval: 30s
                minRequests: 50
                maxFailureRatio: 0.01
                maxErrorRatio: 0.05
                failureLimit: 2
          limits:
            maxMemoryBytes: 33554432
            maxCallDuration: 50ms
        status:
          observedGeneration: 7
          conditions:
            - type: Ready
              status: "False"
              observedGeneration: 7
              lastTransitionTime: "2026-11-28T03:05:00Z"
              reason: Progressing
              message: 3/10 proxies run the desired revision
          module:
            url: oci://registry.local:5000/wasm/add_header:v1
            resolvedRef: oci://registry.local:5000/wasm/add_header@sha256:5b1c3e4a8f9d0b7e6c2a1f3d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a
            manifestDigest: sha256:5b1c3e4a8f9d0b7e6c2a1f3d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a
            moduleDigest: sha256:0e7d3b9a4c1f2e8d6b5a4c3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d
            size: 123456
            abiVersion: 0.2.1
          revisions:
            stable:
              revision: r-1a2b3c
              moduleDigest: sha256:aaaa
            canary:
              revision: r-4d5e6f
              moduleDigest: sha256:bbbb
          rollout:
            phase: Paused
            stepIndex: 1
            weight: 20
            failedChecks: 0
            message: paused for 1m
          workloads:
            selected: 10
            ready: 3
            canary: 2
            failed: 1
            summary: 3/10
            failing:
              - name: frontend-7d9f-abcde
                namespace: shop
                revision: r-4d5e6f
                reason: ABI rejected
        """;

    [Fact]
    public void Yaml_to_CSharp_to_yaml_keeps_every_field_including_unknown_ones_in_pluginConfig()
    {
        var original = YamlJson.Parse(EveryField);

        var plugin = WasmPluginSerializer.FromYaml(EveryField);
        var reparsed = YamlJson.Parse(WasmPluginSerializer.ToYaml(plugin));

        Assert.True(JsonNode.DeepEquals(original, reparsed),
            $"round trip changed the document:\nbefore: {original.ToJsonString()}\nafter:  {reparsed.ToJsonString()}");
    }

    [Fact]
    public void Typed_fields_are_read_with_their_enum_values()
    {
        var spec = WasmPluginSerializer.FromYaml(EveryField).Spec!;

        Assert.Equal(PluginPhase.Authz, spec.Phase);
        Assert.Equal(FailStrategy.FailReload, spec.FailStrategy);
        Assert.Equal(PullPolicy.Always, spec.ImagePullPolicy);
        Assert.Equal(PluginType.Network, spec.Type);
        Assert.Equal(PluginMode.LogOnly, spec.Mode);
        Assert.Equal(EnvValueSource.Host, spec.VmConfig!.Env![1].ValueFrom);
        Assert.Equal(WorkloadMode.ClientAndServer, spec.Match![0].Mode);
        Assert.Equal(20, spec.Rollout!.Canary!.Steps![0].SetWeight);
        Assert.Equal(-10, spec.Priority);
        Assert.Equal("unknownDeep", spec.PluginConfig!["nested"]!.AsObject().Single().Key);
    }

    [Fact]
    public void Enums_are_written_as_their_API_strings()
    {
        var plugin = new WasmPlugin
        {
            Metadata = new ObjectMeta { Name = "p" },
            Spec = new WasmPluginSpec { Url = "oci://r/x:v1", Phase = PluginPhase.UnspecifiedPhase, FailStrategy = FailStrategy.FailOpen, Mode = PluginMode.Enforce },
        };

        var json = WasmPluginSerializer.ToJson(plugin);

        Assert.Equal("UNSPECIFIED_PHASE", (string?)json["spec"]!["phase"]);
        Assert.Equal("FAIL_OPEN", (string?)json["spec"]!["failStrategy"]);
        Assert.Equal("ENFORCE", (string?)json["spec"]!["mode"]);
        Assert.Equal("extensions.wasmoperator.io/v1alpha1", (string?)json["apiVersion"]);
        Assert.False(json["spec"]!.AsObject().ContainsKey("priority"));
    }

    [Fact]
    public void The_full_document_breaks_only_the_rule_that_selector_and_targetRefs_are_exclusive()
    {
        // It sets selector, targetRef and targetRefs at once to cover every field; everything else is valid.
        var result = WasmPluginCrd.Validator.Validate((JsonObject)YamlJson.Parse(EveryField));

        Assert.Equal(["spec: Invalid value: \"object\": only one of targetRefs or selector can be set"], result.Errors.Select(e => e.ToString()));
    }
}
