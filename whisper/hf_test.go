package whisper

import (
	"context"
	"slices"
	"testing"

	"github.com/goformer/goformer/audio"
)

// TestGenerateSuppressTokens checks Generate's suppression options on the
// fixture: a suppressed token is never generated, a begin-suppressed one
// only not first, and ids outside the vocabulary are ignored.
func TestGenerateSuppressTokens(t *testing.T) {
	var cases whisperCases
	m, get := loadFixture(t, "whisper", &cases)
	mel, err := audio.LogMel(get("audio").Contiguous().Data(), m.Config.NumMelBins)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := len(cases.Prompt)
	gen := func(o GenerateOptions) []int {
		t.Helper()
		o.Prompt, o.MaxNewTokens = cases.Prompt, 8
		ids, err := m.Generate(ctx, mel, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids[:p], cases.Prompt) {
			t.Fatalf("result %v does not start with the prompt %v", ids, cases.Prompt)
		}
		return ids
	}
	for _, beams := range []int{1, 3} {
		plain := gen(GenerateOptions{NumBeams: beams})
		first := plain[p]
		if got := gen(GenerateOptions{NumBeams: beams, SuppressTokens: []int{-5, m.Config.VocabSize + 3}}); !slices.Equal(got, plain) {
			t.Errorf("beams %d: ids outside the vocabulary changed the result: %v, want %v", beams, got, plain)
		}
		if got := gen(GenerateOptions{NumBeams: beams, SuppressTokens: []int{first}}); slices.Contains(got[p:], first) {
			t.Errorf("beams %d: suppressed token %d generated: %v", beams, first, got)
		}
		got := gen(GenerateOptions{NumBeams: beams, BeginSuppressTokens: []int{first}})
		if got[p] == first {
			t.Errorf("beams %d: begin-suppressed token %d generated first: %v", beams, first, got)
		}
		t.Logf("beams %d: %v; without %d: first %d", beams, plain[p:], first, got[p])
	}
}
