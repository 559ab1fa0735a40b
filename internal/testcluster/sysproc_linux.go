package testcluster

import "syscall"

// sysProcAttr puts an agent in a process group of its own, so a terminal's
// Ctrl-C reaches only devcluster, which then stops the agents in order; and
// asks Linux to SIGTERM the agent if the process that started it dies
// (a panic, go test -timeout), so agents never outlive their test holding
// ports. Pdeathsig is tied to the forking OS thread, which the Go runtime
// keeps alive for the life of the process.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
