package core

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestStreamLayerRefusesNonLoopback(t *testing.T) {
	s, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, addr := range []string{"10.0.0.1:80", "example.com:80", "0.0.0.0:1"} {
		if c, err := s.Dial(raft.ServerAddress(addr), time.Second); err == nil {
			c.Close()
			t.Errorf("Dial(%s) succeeded", addr)
		}
	}
}

func TestStreamLayerCloseCutsConnections(t *testing.T) {
	a, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	b, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	out, err := a.Dial(b.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The peer sees the dialled connection cut, as after a crash.
	if _, err := in.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer read after Close: %v, want EOF", err)
	}
	if _, err := a.Dial(b.addr, time.Second); err == nil {
		t.Error("Dial after Close succeeded")
	}

	if got := b.handlers.Load(); got != 1 {
		t.Fatalf("%d open accepted connections, want 1", got)
	}
	in.Close()
	b.waitHandlers(time.Second)
	if got := b.handlers.Load(); got != 0 {
		t.Fatalf("%d open accepted connections after the owner closed it, want 0", got)
	}
}
