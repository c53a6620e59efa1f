using k8s;
using k8s.Models;

namespace WasmOperator.Operator.Tests.Support;

/// <summary>A Lease held by another (absent) operator, so replicas under test stay standby until it is released.</summary>
internal static class ForeignLease
{
    public static async Task HoldAsync(IKubernetes client) =>
        await client.CoordinationV1.CreateNamespacedLeaseAsync(new V1Lease
        {
            Metadata = new V1ObjectMeta { Name = "wasm-operator", NamespaceProperty = "wasm-system" },
            Spec = new V1LeaseSpec { HolderIdentity = "someone-else", LeaseDurationSeconds = 3600, RenewTime = DateTime.UtcNow, AcquireTime = DateTime.UtcNow },
        }, "wasm-system");

    public static async Task ReleaseAsync(IKubernetes client)
    {
        var lease = await client.CoordinationV1.ReadNamespacedLeaseAsync("wasm-operator", "wasm-system");
        lease.Spec.HolderIdentity = null;
        lease.Spec.LeaseDurationSeconds = 1;
        await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "wasm-operator", "wasm-system");
    }
}
