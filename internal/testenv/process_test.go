package testenv_test

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/rosterd/rosterd/internal/testenv"
)

func TestStartProcess(t *testing.T) {
	sleep := testenv.LookPath(t, "sleep", "coreutils")
	cmd := exec.Command(sleep, "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := testenv.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if a := cmd.SysProcAttr; a.Pdeathsig != syscall.SIGKILL || !a.Setpgid {
		t.Fatalf("SysProcAttr = %+v: want Pdeathsig SIGKILL, the caller's Setpgid kept", a)
	}
	select {
	case <-p.Exited():
		t.Fatal("exited before it was killed")
	default:
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.Exited() // a hang here is go test's timeout
	if p.Err() == nil {
		t.Fatal("a killed process reported a clean exit")
	}
	if _, err := testenv.StartProcess(exec.Command("/nonexistent/server")); err == nil {
		t.Fatal("a missing binary started")
	}
}
