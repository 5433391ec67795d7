/* Wine 8 (Debian 12's wine64) lacks bcryptprimitives.dll's ProcessPrng, which Windows 10 and
 * later have and Rust's standard library takes its random numbers from. Only the Wine tests use
 * this stand-in: it answers ProcessPrng from RtlGenRandom (advapi32's SystemFunction036), which
 * Wine has. Built by .ci/run with MinGW-w64 and put beside wpod.exe, where Windows looks first. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
