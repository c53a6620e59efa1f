using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Tests.Support;

namespace WasmOperator.ProxyWasm.Tests.Check;

public class ModuleCheckerTests
{
    [Fact]
    public void An_assemblyscript_plugin_is_reported_with_its_abi_allocator_imports_and_root_ids()
    {
        var report = SharedRuntime.Instance.Check(TestModules.Plugin("singleton"), ["auth_singleton", "auth", "add_header"]);

        Assert.True(report.IsLoadable, string.Join("; ", report.Problems));
        Assert.Equal(AbiVersion.V0_2_0, report.AbiVersion);
        Assert.Equal("malloc", report.Allocator);
        Assert.True(report.ExportsMemory);
        Assert.Contains("wasi_unstable.proc_exit", report.ProvidedImports);
        Assert.Contains("env.proxy_http_call", report.ProvidedImports);
        Assert.Empty(report.UnknownImports);
        Assert.Contains("proxy_on_request_headers", report.Callbacks);
        Assert.Equal(["auth_singleton", "auth"], report.ServedRootIds);
        Assert.Contains("add_header", report.RejectedRootIds.Keys);
    }

    [Fact]
    public void The_check_reports_configuration_validation_and_foreign_function_use_and_judges_a_given_configuration()
    {
        var validating = TestModules.Wat("validate_configuration");

        var accepted = SharedRuntime.Instance.Check(validating, [""], "ok, please"u8.ToArray());
        var refused = SharedRuntime.Instance.Check(validating, [""], "no"u8.ToArray());
        var foreign = SharedRuntime.Instance.Check(TestModules.Wat("foreign_function"));
        var plain = SharedRuntime.Instance.Check(TestModules.Wat("configure_only"));

        Assert.True(accepted.ValidatesConfiguration);
        Assert.False(accepted.CallsForeignFunctions);
        Assert.Equal([""], accepted.ServedRootIds);
        Assert.Empty(refused.ServedRootIds);
        Assert.Contains("proxy_validate_configuration rejected the plugin configuration (2 bytes", refused.RejectedRootIds[""], StringComparison.Ordinal);
        Assert.True(foreign.CallsForeignFunctions);
        Assert.False(foreign.ValidatesConfiguration);
        Assert.False(plain.ValidatesConfiguration);
        Assert.False(plain.CallsForeignFunctions);
    }

    [Fact]
    public void A_plugin_refusing_its_configuration_is_told_by_kind_from_one_that_does_not_start()
    {
        // go_like's on_configure returns false for an empty configuration; validate_configuration refuses "no".
        var refusedByConfigure = SharedRuntime.Instance.Check(TestModules.Wat("go_like"), [""], []);
        var refusedByValidation = SharedRuntime.Instance.Check(TestModules.Wat("validate_configuration"), [""], "no"u8.ToArray());
        var notStarted = SharedRuntime.Instance.Check(TestModules.Plugin("singleton"), ["add_header"]);
        var started = SharedRuntime.Instance.Check(TestModules.Wat("go_like"), [""], "on"u8.ToArray());

        Assert.Equal([""], refusedByConfigure.ConfigurationRejectedRootIds);
        Assert.Equal([""], refusedByValidation.ConfigurationRejectedRootIds);
        Assert.Contains("add_header", notStarted.RejectedRootIds.Keys);
        Assert.Empty(notStarted.ConfigurationRejectedRootIds);
        Assert.Empty(started.RejectedRootIds);
        Assert.Empty(started.ConfigurationRejectedRootIds);
    }

    [Fact]
    public void Imports_the_host_does_not_provide_are_listed_and_still_link()
    {
        var report = SharedRuntime.Instance.Check(TestModules.Wat("traps"));

        Assert.Equal(["env.proxy_not_a_real_hostcall"], report.UnknownImports);
        Assert.True(report.IsLoadable);
    }

    [Fact]
    public void A_module_without_a_marker_is_valid_wasm_but_not_loadable()
    {
        var report = SharedRuntime.Instance.Check(TestModules.Wat("no_marker"));

        Assert.True(report.IsValidWasm);
        Assert.Equal(AbiVersion.Unknown, report.AbiVersion);
        Assert.False(report.IsLoadable);
        Assert.Contains(report.Problems, p => p.Contains("Missing or unknown Proxy-Wasm ABI version", StringComparison.Ordinal));
    }

    [Fact]
    public void Bytes_that_are_not_wasm_are_reported_invalid_with_the_reason()
    {
        var report = SharedRuntime.Instance.Check("not wasm at all"u8);

        Assert.False(report.IsValidWasm);
        Assert.False(string.IsNullOrEmpty(report.ValidationError));
        Assert.StartsWith("sha256:", report.Digest, StringComparison.Ordinal);
    }
}
