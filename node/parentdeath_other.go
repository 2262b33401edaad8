//go:build !linux

package node

import (
	"os/exec"
	"syscall"
)

// setParentDeath puts the child in a process group of its own; without a
// parent-death signal here, the lease is what stops a node whose phantom
// died.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
