// The operator process: controller runtime and the WasmPlugin reconciler.
return 0;
