using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Wasmtime;
using WasmOperator.ProxyWasm.Abi;
using WasmOperator.ProxyWasm.Runtime;

namespace WasmOperator.ProxyWasm.Wasi;

/// <summary>
/// The WASI subset Proxy-Wasm hosts provide, under both <c>wasi_snapshot_preview1</c> and
/// <c>wasi_unstable</c>: fd_write to the plugin log (stdout INFO, stderr ERROR), clocks, random_get
/// (≤ 64 KiB), per-plugin environ, empty args, proc_exit as a trap, poll_oneoff/sched_yield for Go.
/// Any other WASI import is linked per module to a stub answering ENOSYS.
/// </summary>
internal static class WasiFunctions
{
    public const int Success = 0;
    public const int BadF = 8;
    public const int Fault = 21;
    public const int Inval = 28;
    public const int NoSys = 52;

    public static readonly string[] Modules = ["wasi_snapshot_preview1", "wasi_unstable"];

    public static void Define(Linker linker)
    {
        foreach (var m in Modules)
        {
            linker.DefineFunction(m, Sig(m, "fd_write", "iiii"), static (Caller c, int fd, int iovs, int count, int ret) => FdWrite(AbiInstance.Of(c), fd, iovs, count, ret));
            linker.DefineFunction(m, Sig(m, "fd_read", "iiii"), static (Caller c, int fd, int iovs, int count, int ret) => BadF);
            linker.DefineFunction(m, Sig(m, "fd_close", "i"), static (Caller c, int fd) => BadF);
            linker.DefineFunction(m, Sig(m, "fd_seek", "iIii"), static (Caller c, int fd, long offset, int whence, int ret) => BadF);
            linker.DefineFunction(m, Sig(m, "fd_fdstat_get", "ii"), static (Caller c, int fd, int ret) => FdStat(AbiInstance.Of(c), fd, ret));
            linker.DefineFunction(m, Sig(m, "fd_prestat_get", "ii"), static (Caller c, int fd, int ret) => BadF);
            linker.DefineFunction(m, Sig(m, "fd_prestat_dir_name", "iii"), static (Caller c, int fd, int p, int l) => BadF);
            linker.DefineFunction(m, Sig(m, "environ_sizes_get", "ii"), static (Caller c, int count, int size) => EnvironSizes(AbiInstance.Of(c), count, size));
            linker.DefineFunction(m, Sig(m, "environ_get", "ii"), static (Caller c, int environ, int buffer) => EnvironGet(AbiInstance.Of(c), environ, buffer));
            linker.DefineFunction(m, Sig(m, "args_sizes_get", "ii"), static (Caller c, int count, int size) => WriteZeros(AbiInstance.Of(c), count, size));
            linker.DefineFunction(m, Sig(m, "args_get", "ii"), static (Caller c, int argv, int buffer) => Success);
            linker.DefineFunction(m, Sig(m, "clock_time_get", "iIi"), static (Caller c, int id, long precision, int ret) => ClockTimeGet(AbiInstance.Of(c), id, ret));
            linker.DefineFunction(m, Sig(m, "clock_res_get", "ii"), static (Caller c, int id, int ret) => AbiInstance.Of(c).TryWriteU64(ret, 1) ? Success : Fault);
            linker.DefineFunction(m, Sig(m, "random_get", "ii"), static (Caller c, int ptr, int len) => RandomGet(AbiInstance.Of(c), ptr, len));
            linker.DefineFunction(m, Sig(m, "poll_oneoff", "iiii"), static (Caller c, int input, int output, int n, int ret) => AbiInstance.Of(c).TryWriteU32(ret, 0) ? Success : Fault);
            linker.DefineFunction(m, Sig(m, "sched_yield", ""), static (Caller c) => Success);
            linker.DefineFunction(m, Sig(m, "proc_exit", "i", ""), static (Caller c, int code) => throw new GuestTrapException(TrapKind.ProcExit, $"proc_exit({code})"));
        }
    }

    private static string Sig(string module, string name, string parameters, string results = "i") =>
        HostFunctions.Record(module, name, parameters, results);

    private static int FdWrite(AbiInstance abi, int fd, int iovs, int count, int ret)
    {
        if (fd is not (1 or 2))
        {
            return BadF;
        }

        // Only the head of a long write is kept (one byte past the log cut, to find a character boundary).
        var total = 0L;
        var head = ArrayPool<byte>.Shared.Rent(AbiInstance.MaxLogMessageBytes + 1);
        var kept = 0;
        try
        {
            for (var i = 0; i < count; i++)
            {
                if (!abi.TryReadU32(iovs + (i * 8), out var ptr) || !abi.TryReadU32(iovs + (i * 8) + 4, out var len) ||
                    !abi.TryGetSpan((int)ptr, (int)len, out var bytes))
                {
                    return Fault;
                }

                var take = Math.Min(bytes.Length, head.Length - kept);
                bytes[..take].CopyTo(head.AsSpan(kept));
                kept += take;
                total += len;
            }

            var text = AbiInstance.LogText(head.AsSpan(0, kept), total);
            abi.WriteLog(fd == 1 ? ProxyLogLevel.Info : ProxyLogLevel.Error, text.TrimEnd('\n'));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }

        return abi.TryWriteU32(ret, (uint)total) ? Success : Fault;
    }

    private static int FdStat(AbiInstance abi, int fd, int ret)
    {
        if (fd is < 0 or > 2)
        {
            return BadF;
        }

        // fdstat: u8 filetype (2 = character device), u16 flags, u64 rights base, u64 rights inheriting.
        if (!abi.TryGetSpan(ret, 24, out var span))
        {
            return Fault;
        }

        span.Clear();
        span[0] = 2;
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], fd == 0 ? 2UL : 64UL);
        return Success;
    }

    private static int EnvironSizes(AbiInstance abi, int countPtr, int sizePtr)
    {
        var env = abi.Environment;
        var size = 0;
        foreach (var (k, v) in env)
        {
            size += Encoding.UTF8.GetByteCount(k) + 1 + Encoding.UTF8.GetByteCount(v) + 1;
        }

        return abi.TryWriteU32(countPtr, (uint)env.Count) && abi.TryWriteU32(sizePtr, (uint)size) ? Success : Fault;
    }

    private static int EnvironGet(AbiInstance abi, int environ, int buffer)
    {
        var offset = buffer;
        var index = 0;
        foreach (var (k, v) in abi.Environment)
        {
            var entry = Encoding.UTF8.GetBytes($"{k}={v}\0");
            if (!abi.TryWriteU32(environ + (index * 4), (uint)offset) || !abi.TryGetSpan(offset, entry.Length, out var span))
            {
                return Fault;
            }

            entry.CopyTo(span);
            offset += entry.Length;
            index++;
        }

        return Success;
    }

    private static int WriteZeros(AbiInstance abi, int a, int b) =>
        abi.TryWriteU32(a, 0) && abi.TryWriteU32(b, 0) ? Success : Fault;

    private static int ClockTimeGet(AbiInstance abi, int id, int ret)
    {
        ulong nanos = id switch
        {
            0 => (ulong)(DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100UL,
            1 or 2 or 3 => (ulong)System.Diagnostics.Stopwatch.GetTimestamp() * (1_000_000_000UL / (ulong)System.Diagnostics.Stopwatch.Frequency),
            _ => ulong.MaxValue,
        };
        if (nanos == ulong.MaxValue)
        {
            return Inval;
        }

        return abi.TryWriteU64(ret, nanos) ? Success : Fault;
    }

    private static int RandomGet(AbiInstance abi, int ptr, int len)
    {
        if (len is < 0 or > 64 * 1024)
        {
            return Inval;
        }

        if (!abi.TryGetSpan(ptr, len, out var span))
        {
            return Fault;
        }

        RandomNumberGenerator.Fill(span);
        return Success;
    }
}
