package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestServeEngineFlag(t *testing.T) {
	err := serve(context.Background(), []string{"-addr", "127.0.0.1:0", "-engine", "bogus"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "xnet or h2") {
		t.Errorf("serve -engine bogus: %v, want an error naming xnet and h2", err)
	}
}
