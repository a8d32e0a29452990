//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPty opens a pseudo-terminal pair with the kernel's ptmx interface.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		master.Close()
		t.Fatalf("unlocking the pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		master.Close()
		t.Fatalf("pty number: %v", e)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	return master, slave
}

// TestBenchProgressTerminal checks the progress output on a terminal: one
// line rewritten in place (carriage return, erase line), cleared at the
// end, with the summary on stdout.
func TestBenchProgressTerminal(t *testing.T) {
	m := startMolt(t)
	master, slave := openPty(t)
	defer master.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once the slave is closed
		got <- string(b)
	}()
	var stdout bytes.Buffer
	err := bench(context.Background(), []string{"-c", "2", "-m", "2", "-d", "2500ms", m.url}, &stdout, slave)
	slave.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out string
	select {
	case out = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("reading the pty did not end")
	}
	if n := strings.Count(out, "\r\033[Kh2c "); n != 2 {
		t.Errorf("%d in-place progress lines, want 2: %q", n, out)
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("progress line not cleared at the end: %q", out)
	}
	if strings.Contains(out, "\n") {
		t.Errorf("progress on a terminal contains newlines: %q", out)
	}
	if !strings.Contains(stdout.String(), "molt bench h2c ") {
		t.Errorf("no summary on stdout: %q", &stdout)
	}
}
