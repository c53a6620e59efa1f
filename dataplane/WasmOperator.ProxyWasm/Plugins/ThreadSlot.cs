namespace WasmOperator.ProxyWasm.Plugins;

/// <summary>
/// A small number per thread, handed out in the order threads first ask: threads spread over a plugin's
/// shards and each keeps coming back to the same one (its VM's memory stays warm in that core's cache).
/// </summary>
internal static class ThreadSlot
{
    [ThreadStatic]
    private static int t_slot;
    private static int s_next;

    public static int Current
    {
        get
        {
            var slot = t_slot;
            if (slot == 0)
            {
                slot = t_slot = (Interlocked.Increment(ref s_next) & int.MaxValue) + 1;
            }

            return slot;
        }
    }
}
