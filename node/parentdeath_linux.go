package node

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel SIGKILL the child when phantom dies,
// however it dies, and puts it in a process group of its own, so that a
// Ctrl-C at the terminal reaches phantom, which stops its nodes in order,
// rather than every node at once. (The signal follows the thread that
// started the child; the lease covers the rare case of that thread
// exiting first.)
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
