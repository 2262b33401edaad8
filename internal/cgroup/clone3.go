package cgroup

import (
	"errors"
	"sync"
	"syscall"
	"unsafe"
)

// cloneArgs is the kernel's struct clone_args up to its cgroup field
// (CLONE_ARGS_SIZE_VER2, 88 bytes).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
}

const (
	sysClone3       = 435 // the same number on every architecture
	cloneIntoCgroup = 0x200000000
)

var (
	clone3Once sync.Once
	clone3OK   bool
)

// clone3IntoCgroup says whether this kernel, under this process's seccomp
// filter, starts processes inside a cgroup (clone3 with CLONE_INTO_CGROUP),
// which os/exec's UseCgroupFD needs. exec.Cmd cannot be started again after
// a failed Start, so this is asked once up front rather than found by
// failing: clone3 is called with CLONE_INTO_CGROUP and a cgroup descriptor
// that can never be open (INT_MAX is above any RLIMIT_NOFILE). A kernel that
// supports the flag gets as far as looking the descriptor up and fails with
// EBADF, before any child exists; one without clone3, or a seccomp filter
// that blocks it (Docker's default returns ENOSYS), says ENOSYS or EPERM; a
// kernel older than 5.7 refuses the flag with EINVAL.
func clone3IntoCgroup() bool {
	clone3Once.Do(func() {
		args := cloneArgs{flags: cloneIntoCgroup, exitSignal: uint64(syscall.SIGCHLD), cgroup: 1<<31 - 1}
		_, _, errno := syscall.RawSyscall(sysClone3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
		clone3OK = errors.Is(errno, syscall.EBADF)
	})
	return clone3OK
}
