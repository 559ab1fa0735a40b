//go:build !linux

package testcluster

import "syscall"

// sysProcAttr puts an agent in a process group of its own, so a terminal's
// Ctrl-C reaches only devcluster, which then stops the agents in order.
// Without Linux's Pdeathsig, agents of a test binary that crashes keep
// running until killed by hand.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
