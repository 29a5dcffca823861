package wav2vec2

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// TestBatchMatchesReference runs padded batches through every variant, with
// and without the attention mask, against the float64 reference run on each
// padded row: every frame, padding included, must match.
func TestBatchMatchesReference(t *testing.T) {
	ctx := context.Background()
	for i, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			n, c, s := smallNetwork(t, v, uint64(i+11))
			r := rand.New(rand.NewPCG(7, uint64(i)))
			lengths := []int{90, 157, 17, 157}
			clips := make([][]float32, len(lengths))
			for j, l := range lengths {
				clips[j] = make([]float32, l)
				for k := range clips[j] {
					clips[j][k] = float32(r.NormFloat64())
				}
			}
			longest := 157
			for _, masked := range []bool{true, false} {
				got, err := n.Forward(ctx, clips, ForwardOptions{NoAttentionMask: !masked})
				if err != nil {
					t.Fatal(err)
				}
				frames := c.OutputFrames(longest)
				if got.Logits.Dim(0) != len(clips) || got.Logits.Dim(1) != frames || got.Logits.Dim(2) != c.VocabSize {
					t.Fatalf("logits %v, want [%d %d %d]", got.Logits.Shape(), len(clips), frames, c.VocabSize)
				}
				var maxd float64
				for j, clip := range clips {
					if want := c.OutputFrames(len(clip)); got.Frames[j] != want {
						t.Errorf("clip %d: %d frames, want %d", j, got.Frames[j], want)
					}
					row := make([]float32, longest)
					copy(row, clip)
					valid := len(clip)
					if !masked {
						valid = -1
					}
					maxd = max(maxd, refDiff(got.Logits.Index(j), refLogitsMasked(s, c, row, valid)))
				}
				t.Logf("mask %v: max|Δ| vs float64 reference = %.3g", masked, maxd)
				if maxd > 1e-4 {
					t.Errorf("mask %v: max|Δ| = %g > 1e-4", masked, maxd)
				}
			}
			if c.FeatExtractNorm != "layer" {
				return
			}
			// With per-frame normalisation and the mask, a clip's valid
			// frames do not depend on the padding: they are the clip's alone.
			got, err := n.Forward(ctx, clips, ForwardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for j, clip := range clips {
				alone, err := n.Logits(ctx, clip)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbs(got.Clip(j).Contiguous().Data(), alone.Data()); d > 1e-5 {
					t.Errorf("clip %d: batched valid logits differ from the clip alone by %g", j, d)
				}
			}
		})
	}
}

func TestBatchBadInput(t *testing.T) {
	n, _, _ := smallNetwork(t, variants[4], 5)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		clips [][]float32
		want  string
	}{
		{"empty", nil, "empty batch"},
		{"short", [][]float32{make([]float32, 100), make([]float32, 16)}, "clip 1"},
	} {
		if _, err := n.Forward(ctx, tc.clips, ForwardOptions{}); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrInput naming %q", tc.name, err, tc.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := n.Forward(cctx, [][]float32{make([]float32, 100), make([]float32, 50)}, ForwardOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}

	m := smallModel(t, n, DefaultFeatureExtractorConfig())
	bad := make([]float32, 100)
	bad[3] = float32(math.Inf(1))
	for name, clips := range map[string][][]float32{
		"empty": nil,
		"short": {make([]float32, 100), make([]float32, 16)},
		"inf":   {make([]float32, 100), bad},
	} {
		if _, err := m.TranscribeBatch(ctx, clips, Options{}); !errors.Is(err, ErrInput) {
			t.Errorf("TranscribeBatch %s: err = %v, want ErrInput", name, err)
		}
	}
}

// TestModelBatch checks the feature extractor's two padding behaviours and
// that a masked batch of a layer-norm model transcribes each clip as
// Transcribe does.
func TestModelBatch(t *testing.T) {
	n, c, _ := smallNetwork(t, variants[4], 9)
	r := rand.New(rand.NewPCG(3, 4))
	clips := make([][]float32, 3)
	for j, l := range []int{300, 120, 41} {
		clips[j] = make([]float32, l)
		for k := range clips[j] {
			clips[j][k] = 0.1*float32(r.NormFloat64()) + 0.05
		}
	}
	ctx := context.Background()
	for _, withMask := range []bool{true, false} {
		fe := DefaultFeatureExtractorConfig()
		fe.ReturnAttentionMask = withMask
		m := smallModel(t, n, fe)
		rows, err := m.InputValuesBatch(clips)
		if err != nil {
			t.Fatal(err)
		}
		for j, clip := range clips {
			if len(rows[j]) != 300 {
				t.Fatalf("mask %v: row %d has %d values, want 300", withMask, j, len(rows[j]))
			}
			var want []float32
			if withMask {
				// Each clip normalised alone, then zero-padded.
				want = make([]float32, 300)
				copy(want, Normalize(clip))
			} else {
				// The zero-padded row normalised as a whole.
				padded := make([]float32, 300)
				copy(padded, clip)
				want = Normalize(padded)
			}
			if d := maxAbs(rows[j], want); d != 0 {
				t.Errorf("mask %v: row %d differs from the feature extractor's by %g", withMask, j, d)
			}
		}
		batch, err := m.LogitsBatch(ctx, clips)
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.TranscribeBatch(ctx, clips, Options{WordTimestamps: true})
		if err != nil {
			t.Fatal(err)
		}
		for j, clip := range clips {
			if want := c.OutputFrames(len(clip)); batch.Frames[j] != want {
				t.Errorf("mask %v: clip %d has %d frames, want %d", withMask, j, batch.Frames[j], want)
			}
			if !withMask {
				continue
			}
			alone, err := m.Logits(ctx, clip)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbs(batch.Clip(j).Contiguous().Data(), alone.Data()); d > 1e-5 {
				t.Errorf("clip %d: batched logits differ from the clip alone by %g", j, d)
			}
			one, err := m.Transcribe(ctx, clip, Options{WordTimestamps: true})
			if err != nil {
				t.Fatal(err)
			}
			if res[j].Text != one.Text || len(res[j].Words) != len(one.Words) {
				t.Errorf("clip %d: TranscribeBatch %+v, Transcribe %+v", j, res[j], one)
			}
			ids := tensor.ArgmaxRows(alone)
			if got := m.Tokenizer().Decode(ids); got != res[j].Text {
				t.Errorf("clip %d: text %q, decoded argmax %q", j, res[j].Text, got)
			}
		}
	}
}
