package testenv

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Process is a server a test harness started (postgres, sshd, slapd): it
// dies with the test binary, and a goroutine reaps it.
type Process struct {
	Cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// StartProcess starts cmd so that a crashed or killed test binary takes
// the server along: Pdeathsig=SIGKILL (added to cmd's SysProcAttr). The
// signal fires when the *thread* that forked the child exits, not the
// process, so the fork happens on a goroutine locked to its thread that
// stays blocked in Wait for the server's whole life.
func StartProcess(cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &Process{Cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, after the server
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Exited is closed once the server has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is what Wait returned; valid once Exited is closed.
func (p *Process) Err() error { return p.err }
