package whisper

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/tensor"
)

// TestLimits checks that beam and sample counts over generate.MaxBeams and
// token counts over the decoder's positions are refused with ErrInput
// naming the limit, before any audio is decoded or encoded: on a cancelled
// context the refusal comes first.
func TestLimits(t *testing.T) {
	m, _ := loadFixture(t, "whisper", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := m.Config.MaxTargetPositions
	pcm := make([]float32, 16000)
	mel := tensor.New(m.Config.NumMelBins, 2*m.Config.NumFrames())
	for _, c := range []struct {
		opt   Options
		limit int
	}{
		{Options{BeamSize: 1000}, generate.MaxBeams},
		{Options{BeamSize: generate.MaxBeams + 1}, generate.MaxBeams},
		{Options{BestOf: 1000}, generate.MaxBeams},
		{Options{MaxTokens: n + 1}, n},
		{Options{MaxTokens: int(^uint(0) >> 1)}, n},
	} {
		for name, call := range map[string]func() error{
			"Transcribe":       func() error { _, err := m.Transcribe(ctx, pcm, c.opt); return err },
			"TranscribeMel":    func() error { _, err := m.TranscribeMel(ctx, mel, c.opt); return err },
			"TranscribeReader": func() error { _, err := m.TranscribeReader(ctx, bytes.NewReader(nil), c.opt); return err },
		} {
			err := call()
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), strconv.Itoa(c.limit)) {
				t.Errorf("%s(%+v): %v, want ErrInput naming %d", name, c.opt, err, c.limit)
			}
		}
	}
	for _, opt := range []Options{{BeamSize: -1}, {BestOf: -2}, {MaxTokens: -3}} {
		if _, err := m.Transcribe(ctx, pcm, opt); !errors.Is(err, ErrInput) {
			t.Errorf("Transcribe(%+v): %v, want ErrInput", opt, err)
		}
	}
	window := tensor.New(m.Config.NumMelBins, m.Config.NumFrames())
	for _, opt := range []DecodingOptions{{BeamSize: 1000}, {BestOf: 1000, Temperature: 1}} {
		if _, err := m.Decode(ctx, window, opt); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), strconv.Itoa(generate.MaxBeams)) {
			t.Errorf("Decode(%+v): %v, want ErrInput naming %d", opt, err, generate.MaxBeams)
		}
	}
	for _, opt := range []GenerateOptions{{NumBeams: 1000}, {NumBeams: -2}, {MaxNewTokens: -1}} {
		if _, err := m.Generate(ctx, window, opt); !errors.Is(err, ErrInput) {
			t.Errorf("Generate(%+v): %v, want ErrInput", opt, err)
		}
	}
}
