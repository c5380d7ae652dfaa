//! The `berth` binary's ELF entry point (`berth_entry`, set by build.rs with
//! `-Wl,-e`): binary protection (docs/architecture.md §5) before the C
//! library starts.
//!
//! `create`, `run` and `exec` must run from a read-only image of the binary,
//! so an unprotected start of one of them is only ever followed by a
//! re-exec. Doing that re-exec here, before glibc's start-up code, spares
//! the first process all of that code: relocating the static-pie, the CPU
//! feature and cache probes (dozens of `cpuid`, each a trap to the
//! hypervisor on a virtual machine: about 0.6 ms on this project's VM) and
//! the Rust runtime's set-up, which the re-executed process repeats anyway.
//!
//! The stub reads only the initial stack the kernel built (argc, argv,
//! envp) and makes raw system calls: nothing it touches needs relocation,
//! thread-local storage or the C library. It looks for the verb (the first
//! argument that is not a global flag or a global flag's value) and, for
//! `create`, `run` and `exec`, unless `/proc/self/exe` is already on a
//! read-only mount, does what `binary::ensure_protected` does:
//! `open_tree(OPEN_TREE_CLONE)` of `/proc/self/exe`, `mount_setattr`
//! read-only, `execveat` with the same argv and envp. On any failure, and
//! for every other verb, it jumps to the C library's `_start` with the stack
//! and `rdx` as the kernel left them, and `binary::ensure_protected` stays the
//! one place that decides: it re-executes (or falls back to the sealed memfd)
//! whenever the stub did not. A verb the stub misreads therefore costs time,
//! never protection.
//!
//! Every start that goes on to `_start` first asks the kernel to populate
//! the RELRO segment for writing (`madvise(MADV_POPULATE_WRITE)`, found
//! through the program headers at `__ehdr_start`): glibc's start-up writes
//! the static-pie's ~19 000 relative relocations into nearly all of its
//! ~90 pages, and one call copies them for less than the page faults one by
//! one did. A kernel without MADV_POPULATE_WRITE (before 5.14) refuses it
//! and the faults happen as before.

// SAFETY: `berth_entry` is entered only by the kernel, as the ELF entry point
// of the `berth` binary (build.rs passes `-e berth_entry` for that binary
// only; in any other binary the symbol is unreferenced). It reads argc/argv/
// envp from the initial stack, whose layout the x86-64 ELF ABI fixes, and
// writes only below the stack pointer it was given (the `statfs` buffer and
// the `mount_attr` struct). It restores `rsp` and `rdx` (the ABI's
// `rtld_fini`, which glibc's `_start` passes on) before jumping to `_start`,
// which expects nothing else from the registers. Every address it forms is
// RIP-relative within this block (or `__ehdr_start`, the linker's symbol
// for this image's own ELF header, which the first PT_LOAD maps) or read
// from the stack or that header, so it works before the static-pie is
// relocated. The system calls either fail (and nothing changed except a
// closed fd of our own), or only pre-fault pages of this image's own
// writable RELRO mapping (`madvise`, contents unchanged), or, for
// `execveat`, replace the process image with the same binary, which is what
// glibc would have led to.
core::arch::global_asm!(
    ".pushsection .text.berth_entry,\"ax\",@progbits",
    ".globl berth_entry",
    ".type berth_entry,@function",
    "berth_entry:",
    "    mov r12, rsp",
    "    mov r13, rdx",
    "    and rsp, -16",
    "    call .Lberth_protect",
    "    call .Lberth_prefault",
    "    mov rsp, r12",
    "    mov rdx, r13",
    "    jmp _start",
    // madvise(RELRO, MADV_POPULATE_WRITE): the C library's start-up writes
    // the static-pie's relocations into every page of the RELRO segment;
    // one call copies those pages instead of a page fault for each.
    ".Lberth_prefault:",
    "    lea rdi, [rip + __ehdr_start]",
    "    mov rax, qword ptr [rdi + 32]",  // e_phoff
    "    movzx ecx, word ptr [rdi + 56]", // e_phnum
    "    movzx edx, word ptr [rdi + 54]", // e_phentsize
    "    lea rsi, [rdi + rax]",
    ".Lberth_phdr:",
    "    test ecx, ecx",
    "    jz .Lberth_ret",
    "    cmp dword ptr [rsi], 0x6474e552", // PT_GNU_RELRO
    "    je .Lberth_relro",
    "    add rsi, rdx",
    "    dec ecx",
    "    jmp .Lberth_phdr",
    ".Lberth_relro:",
    "    mov rax, qword ptr [rsi + 16]", // p_vaddr
    "    add rax, rdi",
    "    mov rsi, qword ptr [rsi + 40]", // p_memsz
    "    add rsi, rax",
    "    and rax, -4096",
    "    sub rsi, rax",
    "    mov rdi, rax",
    "    mov edx, 23", // MADV_POPULATE_WRITE
    "    mov eax, 28", // madvise
    "    syscall",
    "    ret",
    // r14 = argc, r15 = argv, rbx = index of the argument looked at.
    ".Lberth_protect:",
    "    mov r14, qword ptr [r12]",
    "    lea r15, [r12 + 8]",
    "    mov ebx, 1",
    ".Lberth_scan:",
    "    cmp rbx, r14",
    "    jae .Lberth_ret",
    "    mov rsi, qword ptr [r15 + 8*rbx]",
    "    cmp byte ptr [rsi], 45", // '-': a flag
    "    jne .Lberth_verb",
    "    lea rdi, [rip + .Lberth_opt_root]",
    "    call .Lberth_streq",
    "    jnz .Lberth_skip2",
    "    lea rdi, [rip + .Lberth_opt_log]",
    "    call .Lberth_streq",
    "    jnz .Lberth_skip2",
    "    lea rdi, [rip + .Lberth_opt_log_format]",
    "    call .Lberth_streq",
    "    jnz .Lberth_skip2",
    "    lea rdi, [rip + .Lberth_opt_rootless]",
    "    call .Lberth_streq",
    "    jnz .Lberth_skip2",
    "    lea rdi, [rip + .Lberth_opt_criu]",
    "    call .Lberth_streq",
    "    jnz .Lberth_skip2",
    "    inc rbx",
    "    jmp .Lberth_scan",
    ".Lberth_skip2:",
    "    add rbx, 2",
    "    jmp .Lberth_scan",
    ".Lberth_verb:",
    "    lea rdi, [rip + .Lberth_verb_run]",
    "    call .Lberth_streq",
    "    jnz .Lberth_protect_now",
    "    lea rdi, [rip + .Lberth_verb_create]",
    "    call .Lberth_streq",
    "    jnz .Lberth_protect_now",
    "    lea rdi, [rip + .Lberth_verb_exec]",
    "    call .Lberth_streq",
    "    jz .Lberth_ret",
    ".Lberth_protect_now:",
    "    sub rsp, 128",
    // statfs("/proc/self/exe"): already on a read-only mount?
    "    mov eax, 137",
    "    lea rdi, [rip + .Lberth_exe]",
    "    mov rsi, rsp",
    "    syscall",
    "    test rax, rax",
    "    jnz .Lberth_clone",
    "    test qword ptr [rsp + 80], 1", // f_flags & ST_RDONLY
    "    jnz .Lberth_done",
    // open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    ".Lberth_clone:",
    "    mov eax, 428",
    "    mov rdi, -100",
    "    lea rsi, [rip + .Lberth_exe]",
    "    mov edx, 0x80001",
    "    syscall",
    "    test rax, rax",
    "    js .Lberth_done",
    "    mov rbx, rax",
    // mount_setattr(fd, "", AT_EMPTY_PATH, {attr_set = MOUNT_ATTR_RDONLY}, 32)
    "    mov qword ptr [rsp], 1",
    "    mov qword ptr [rsp + 8], 0",
    "    mov qword ptr [rsp + 16], 0",
    "    mov qword ptr [rsp + 24], 0",
    "    mov eax, 442",
    "    mov rdi, rbx",
    "    lea rsi, [rip + .Lberth_empty]",
    "    mov edx, 0x1000",
    "    mov r10, rsp",
    "    mov r8d, 32",
    "    syscall",
    "    test rax, rax",
    "    jnz .Lberth_close",
    // execveat(fd, "", argv, envp, AT_EMPTY_PATH); envp = argv + argc + 1
    "    mov eax, 322",
    "    mov rdi, rbx",
    "    lea rsi, [rip + .Lberth_empty]",
    "    mov rdx, r15",
    "    lea r10, [r15 + 8*r14 + 8]",
    "    mov r8d, 0x1000",
    "    syscall",
    ".Lberth_close:",
    "    mov eax, 3",
    "    mov rdi, rbx",
    "    syscall",
    ".Lberth_done:",
    "    add rsp, 128",
    ".Lberth_ret:",
    "    ret",
    // Compares the C strings at rsi and rdi: ZF clear (jnz) when equal.
    // Clobbers rax, rcx, rdx.
    ".Lberth_streq:",
    "    xor ecx, ecx",
    ".Lberth_streq_loop:",
    "    mov dl, byte ptr [rdi + rcx]",
    "    cmp dl, byte ptr [rsi + rcx]",
    "    jne .Lberth_streq_no",
    "    inc rcx",
    "    test dl, dl",
    "    jnz .Lberth_streq_loop",
    "    mov eax, 1",
    "    test eax, eax",
    "    ret",
    ".Lberth_streq_no:",
    "    xor eax, eax",
    "    test eax, eax",
    "    ret",
    ".size berth_entry, . - berth_entry",
    ".popsection",
    ".pushsection .rodata.berth_entry,\"a\",@progbits",
    ".Lberth_exe: .asciz \"/proc/self/exe\"",
    ".Lberth_empty: .asciz \"\"",
    // The global flags that take a value as the next argument (cli::Cli).
    ".Lberth_opt_root: .asciz \"--root\"",
    ".Lberth_opt_log: .asciz \"--log\"",
    ".Lberth_opt_log_format: .asciz \"--log-format\"",
    ".Lberth_opt_rootless: .asciz \"--rootless\"",
    ".Lberth_opt_criu: .asciz \"--criu\"",
    ".Lberth_verb_run: .asciz \"run\"",
    ".Lberth_verb_create: .asciz \"create\"",
    ".Lberth_verb_exec: .asciz \"exec\"",
    ".popsection",
);
