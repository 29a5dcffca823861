package wav2vec2

import (
	"context"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

func TestParity_wav2vec2(t *testing.T) { testParity(t, "wav2vec2", false) }

// TestParity_hubert also runs the fixture's padded batch, which it must
// have.
func TestParity_hubert(t *testing.T) { testParity(t, "hubert", true) }

// testParity checks a fixture's input values, CTC logits (from the
// reference input values and end to end from the audio file), argmax ids
// and text, and its padded batch when cases.json has one (wantBatch: it
// must).
func testParity(t *testing.T, fixture string, wantBatch bool) {
	m, cs := loadFixture(t, fixture)
	if hubert := fixture == "hubert"; m.Network().Config().IsHubert() != hubert {
		t.Fatalf("config model_type %q: read as HuBERT %v, want %v", m.Network().Config().ModelType, !hubert, hubert)
	}
	wantIV := expected.Tensor(t, fixture, "input_values")
	wantLogits := expected.Tensor(t, fixture, "logits")
	want := wantLogits.MustReshape(wantLogits.Dim(-2), wantLogits.Dim(-1))
	ctx := context.Background()
	pcm := jfk(t)
	checkLogits := func(t *testing.T, what string, got, want *tensor.Tensor) {
		t.Helper()
		if !slices.Equal(got.Shape(), want.Shape()) {
			t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		}
		d := maxAbs(got.Data(), want.Data())
		t.Logf("%s max|Δ| = %.3g", what, d)
		if d > 1e-4 {
			t.Errorf("%s max|Δ| = %g > 1e-4", what, d)
		}
	}

	t.Run("input_values", func(t *testing.T) {
		iv, err := m.InputValues(pcm)
		if err != nil {
			t.Fatal(err)
		}
		if len(iv) != wantIV.Len() {
			t.Fatalf("%d input values, want %d", len(iv), wantIV.Len())
		}
		d := maxAbs(iv, wantIV.Data())
		t.Logf("input_values max|Δ| = %.3g", d)
		if d > 1e-5 {
			t.Errorf("input_values max|Δ| = %g > 1e-5", d)
		}
	})

	t.Run("logits", func(t *testing.T) {
		// From the reference input_values, isolating the network.
		got, err := m.Network().Logits(ctx, wantIV.Data())
		if err != nil {
			t.Fatal(err)
		}
		checkLogits(t, "logits", got, want)
		if ids := tensor.ArgmaxRows(got); !slices.Equal(ids, cs.ArgmaxIDs) {
			t.Errorf("argmax ids differ:\n got %v\nwant %v", ids, cs.ArgmaxIDs)
		}
		if text := m.Tokenizer().Decode(cs.ArgmaxIDs); text != cs.Text {
			t.Errorf("decode(argmax_ids) = %q, want %q", text, cs.Text)
		}
	})

	t.Run("transcribe", func(t *testing.T) {
		// End to end from the decoded file.
		logits, err := m.Logits(ctx, pcm)
		if err != nil {
			t.Fatal(err)
		}
		checkLogits(t, "logits from the wav file", logits, want)
		if ids := tensor.ArgmaxRows(logits); !slices.Equal(ids, cs.ArgmaxIDs) {
			t.Errorf("argmax ids from the wav file differ:\n got %v\nwant %v", ids, cs.ArgmaxIDs)
		}
		res, err := m.Transcribe(ctx, pcm, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != cs.Text {
			t.Errorf("text %q, want %q", res.Text, cs.Text)
		}
	})

	if cs.Batch == nil && !wantBatch {
		return
	}
	t.Run("batch", func(t *testing.T) {
		b := cs.Batch
		if b == nil {
			testdata.Missing(t, "%s: cases.json has no batch case", fixture)
			return
		}
		n := len(b.Samples)
		if len(b.Frames) != n || len(b.ArgmaxIDs) != n || len(b.Text) != n {
			t.Fatalf("batch case: %d samples, %d frames, %d id rows, %d texts", n, len(b.Frames), len(b.ArgmaxIDs), len(b.Text))
		}
		if m.fe.ReturnAttentionMask != b.AttentionMask {
			t.Errorf("preprocessor return_attention_mask %v, the batch case's attention_mask %v", m.fe.ReturnAttentionMask, b.AttentionMask)
		}
		wantIV := expected.Tensor(t, fixture, "batch_input_values")
		wantLogits := expected.Tensor(t, fixture, "batch_logits")
		if wantIV.Dim(0) != n || wantLogits.Dim(0) != n {
			t.Fatalf("batch tensors %v and %v for %d clips", wantIV.Shape(), wantLogits.Shape(), n)
		}
		width := wantIV.Dim(1)
		clips := make([][]float32, n)
		for i, s := range b.Samples {
			if s > len(pcm) || s > width {
				t.Fatalf("clip %d: %d samples, the audio has %d and the batch %d", i, s, len(pcm), width)
			}
			clips[i] = pcm[:s]
		}
		// checkClips compares the logits with the reference and each clip's
		// argmax ids and text over its valid frames with the case's.
		checkClips := func(t *testing.T, what string, got *BatchLogits) {
			t.Helper()
			if !slices.Equal(got.Logits.Shape(), wantLogits.Shape()) {
				t.Fatalf("%s: logits %v, want %v", what, got.Logits.Shape(), wantLogits.Shape())
			}
			if !slices.Equal(got.Frames, b.Frames) {
				t.Errorf("%s: frames %v, want %v", what, got.Frames, b.Frames)
			}
			var worst, padded float64
			for i := range n {
				f := b.Frames[i]
				g := got.Logits.Index(i).Contiguous().Data()
				w := wantLogits.Index(i).Contiguous().Data()
				v := wantLogits.Dim(2)
				worst = max(worst, maxAbs(g[:f*v], w[:f*v]))
				padded = max(padded, maxAbs(g[f*v:], w[f*v:]))
				ids := tensor.ArgmaxRows(got.Clip(i))
				if !slices.Equal(ids, b.ArgmaxIDs[i]) {
					t.Errorf("%s: clip %d argmax ids differ:\n got %v\nwant %v", what, i, ids, b.ArgmaxIDs[i])
				}
				if text := m.Tokenizer().Decode(ids); text != b.Text[i] {
					t.Errorf("%s: clip %d text %q, want %q", what, i, text, b.Text[i])
				}
			}
			// The padding frames are computed as transformers computes them,
			// so they match too.
			t.Logf("%s: valid frames max|Δ| = %.3g, padding frames max|Δ| = %.3g", what, worst, padded)
			if worst > 1e-4 || padded > 1e-4 {
				t.Errorf("%s: valid frames max|Δ| = %g, padding frames %g (want ≤ 1e-4)", what, worst, padded)
			}
		}

		t.Run("input_values", func(t *testing.T) {
			rows, err := m.InputValuesBatch(clips)
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range rows {
				if len(row) != width {
					t.Fatalf("row %d: %d values, want %d", i, len(row), width)
				}
				d := maxAbs(row, wantIV.Index(i).Contiguous().Data())
				t.Logf("row %d input_values max|Δ| = %.3g", i, d)
				if d > 1e-5 {
					t.Errorf("row %d input_values max|Δ| = %g > 1e-5", i, d)
				}
			}
		})

		t.Run("network", func(t *testing.T) {
			// From the reference input_values, isolating the network: each
			// clip's samples with the mask, the whole rows without.
			rows := make([][]float32, n)
			for i := range rows {
				rows[i] = wantIV.Index(i).Contiguous().Data()
				if b.AttentionMask {
					rows[i] = rows[i][:b.Samples[i]]
				}
			}
			got, err := m.Network().Forward(ctx, rows, ForwardOptions{NoAttentionMask: !b.AttentionMask})
			if err != nil {
				t.Fatal(err)
			}
			if !b.AttentionMask {
				for i, s := range b.Samples {
					got.Frames[i] = m.Network().Config().OutputFrames(s)
				}
			}
			checkClips(t, "network", got)
		})

		t.Run("model", func(t *testing.T) {
			// End to end from the decoded file.
			got, err := m.LogitsBatch(ctx, clips)
			if err != nil {
				t.Fatal(err)
			}
			checkClips(t, "LogitsBatch", got)
			res, err := m.TranscribeBatch(ctx, clips, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Text != b.Text[i] {
					t.Errorf("TranscribeBatch clip %d: %q, want %q", i, r.Text, b.Text[i])
				}
			}
		})
	})
}
