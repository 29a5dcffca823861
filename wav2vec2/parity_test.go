package wav2vec2

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

type parityCases struct {
	Audio     string `json:"audio"`
	ArgmaxIDs []int  `json:"argmax_ids"`
	Text      string `json:"text"`
}

func TestParity_wav2vec2(t *testing.T) {
	dir := testdata.Fixture(t, "wav2vec2")
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs parityCases
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	m, err := Load(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	wantIV, err := exp.Tensor("input_values")
	if err != nil {
		t.Fatal(err)
	}
	wantLogits, err := exp.Tensor("logits")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The fixture's waveform is media/audio/jfk16k.wav (jfk.flac at 16 kHz).
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("input_values", func(t *testing.T) {
		iv, err := m.InputValues(pcm)
		if err != nil {
			t.Fatal(err)
		}
		if len(iv) != wantIV.Len() {
			t.Fatalf("%d input values, want %d", len(iv), wantIV.Len())
		}
		d, _ := testdata.MaxAbsDiff(iv, wantIV.Data())
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
		want := wantLogits.MustReshape(wantLogits.Dim(-2), wantLogits.Dim(-1))
		if !slices.Equal(got.Shape(), want.Shape()) {
			t.Fatalf("logits shape %v, want %v", got.Shape(), want.Shape())
		}
		d, _ := testdata.MaxAbsDiff(got.Data(), want.Data())
		t.Logf("logits max|Δ| = %.3g", d)
		if d > 1e-4 {
			t.Errorf("logits max|Δ| = %g > 1e-4", d)
		}
		ids := tensor.ArgmaxRows(got)
		if !slices.Equal(ids, cs.ArgmaxIDs) {
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
		want := wantLogits.MustReshape(wantLogits.Dim(-2), wantLogits.Dim(-1))
		if !slices.Equal(logits.Shape(), want.Shape()) {
			t.Fatalf("logits shape %v, want %v", logits.Shape(), want.Shape())
		}
		d, _ := testdata.MaxAbsDiff(logits.Data(), want.Data())
		t.Logf("logits from the wav file max|Δ| = %.3g", d)
		if d > 1e-4 {
			t.Errorf("logits from the wav file max|Δ| = %g > 1e-4", d)
		}
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
}
