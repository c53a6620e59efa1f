namespace WasmOperator.Proxy.Proxying;

/// <summary>What ended a wait on a held body (<see cref="HeldBodyRead.NextAsync"/>): the next read, or the plugins' decision.</summary>
/// <param name="Read">Bytes the read brought into <see cref="HeldBodyRead.Buffer"/> (0: the body ended); -1 when the plugins decided first.</param>
/// <param name="Released">What the plugins let go, through the rest of the chain, to send on (the read goes on); null otherwise.</param>
internal readonly record struct HeldBodyStep(int Read, byte[]? Released)
{
    /// <summary>The plugins stopped the stream (a reply, a close, a failure that failed closed).</summary>
    public static HeldBodyStep Stopped { get; } = new(-1, null);

    public bool IsStopped => Read < 0 && Released is null;
}
