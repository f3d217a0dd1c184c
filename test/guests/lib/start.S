/* test/guests/lib/start.S: guest entry. `snpemu exec` enters here in 64-bit mode with a stack,
 * interrupts disabled and the low 4 GiB identity-mapped. */
    .section .text.start, "ax"
    .globl _start
    .type _start, @function
_start:
    andq    $-16, %rsp          /* SysV ABI: 16-byte aligned stack before the call */
    xorl    %ebp, %ebp
    call    guest_main
    movw    $0xF4, %dx          /* isa-debug-exit: status becomes (value << 1) | 1 */
    outl    %eax, %dx
1:  cli
    hlt
    jmp     1b
    .size _start, . - _start
    .section .note.GNU-stack, "", @progbits
