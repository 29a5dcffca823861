package wav2vec2

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// hubertCases is the fixture's cases.json: the jfk case and a zero-padded
// batch of clips (each the first samples[i] samples of jfk) with or without
// an attention mask.
type hubertCases struct {
	parityCases
	Batch *struct {
		Samples       []int    `json:"samples"`
		AttentionMask bool     `json:"attention_mask"`
		Frames        []int    `json:"frames"`
		ArgmaxIDs     [][]int  `json:"argmax_ids"`
		Text          []string `json:"text"`
	} `json:"batch"`
}

func expectTensor(t *testing.T, exp *checkpoint.Safetensors, name string) *tensor.Tensor {
	t.Helper()
	x, err := exp.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestParity_hubert(t *testing.T) {
	dir := testdata.Fixture(t, "hubert")
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs hubertCases
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	m, err := Load(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Network().Config().IsHubert() {
		t.Fatalf("config model_type %q: not read as HuBERT", m.Network().Config().ModelType)
	}
	exp, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	wantIV := expectTensor(t, exp, "input_values")
	wantLogits := expectTensor(t, exp, "logits")
	want := wantLogits.MustReshape(wantLogits.Dim(-2), wantLogits.Dim(-1))
	ctx := context.Background()

	// The fixture's waveform is media/audio/jfk16k.wav (jfk.flac at 16 kHz).
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
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

	t.Run("batch", func(t *testing.T) {
		b := cs.Batch
		if b == nil {
			testdata.Missing(t, "%s: cases.json has no batch case", dir)
			return
		}
		n := len(b.Samples)
		if len(b.Frames) != n || len(b.ArgmaxIDs) != n || len(b.Text) != n {
			t.Fatalf("batch case: %d samples, %d frames, %d id rows, %d texts", n, len(b.Frames), len(b.ArgmaxIDs), len(b.Text))
		}
		if m.fe.ReturnAttentionMask != b.AttentionMask {
			t.Errorf("preprocessor return_attention_mask %v, the batch case's attention_mask %v", m.fe.ReturnAttentionMask, b.AttentionMask)
		}
		wantIV := expectTensor(t, exp, "batch_input_values")
		wantLogits := expectTensor(t, exp, "batch_logits")
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

func TestHubertConfig(t *testing.T) {
	const dims = `"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2`
	for _, tc := range []struct {
		name, json string
		hubert     bool
		projLN     bool
	}{
		{"model_type", `{` + dims + `, "model_type": "hubert"}`, true, true},
		{"architecture only", `{` + dims + `, "architectures": ["HubertForCTC"]}`, true, true},
		{"no projection layer norm", `{` + dims + `, "model_type": "hubert", "architectures": ["HubertForCTC"], "feat_proj_layer_norm": false}`, true, false},
		{"wav2vec2 ignores feat_proj_layer_norm", `{` + dims + `, "model_type": "wav2vec2", "feat_proj_layer_norm": false}`, false, true},
		{"wav2vec2 architecture only", `{` + dims + `, "architectures": ["Wav2Vec2ForCTC"]}`, false, true},
	} {
		c, err := ParseConfig(tc.name, []byte(tc.json))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.IsHubert() != tc.hubert || c.hasFeatProjLayerNorm() != tc.projLN {
			t.Errorf("%s: IsHubert %v, projection layer norm %v; want %v, %v", tc.name, c.IsHubert(), c.hasFeatProjLayerNorm(), tc.hubert, tc.projLN)
		}
		wantArch := map[bool]string{false: "Wav2Vec2ForCTC", true: "HubertForCTC"}[tc.hubert]
		if c.Architecture() != wantArch {
			t.Errorf("%s: Architecture() = %s, want %s", tc.name, c.Architecture(), wantArch)
		}
	}
	for _, tc := range []struct{ name, json, want string }{
		{"mismatch", `{` + dims + `, "model_type": "hubert", "architectures": ["Wav2Vec2ForCTC"]}`, "Wav2Vec2ForCTC"},
		{"mismatch2", `{` + dims + `, "model_type": "wav2vec2", "architectures": ["HubertForCTC"]}`, "HubertForCTC"},
		{"pretraining", `{` + dims + `, "model_type": "hubert", "architectures": ["HubertModel"]}`, "HubertModel"},
		{"other", `{` + dims + `, "model_type": "data2vec-audio"}`, "data2vec-audio"},
		{"batch norm", `{` + dims + `, "model_type": "hubert", "conv_pos_batch_norm": true}`, "conv_pos_batch_norm"},
	} {
		_, err := ParseConfig(tc.name, []byte(tc.json))
		if !errors.Is(err, nn.ErrUnsupportedArchitecture) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrUnsupportedArchitecture naming %q", tc.name, err, tc.want)
		}
	}
}

// TestHubertWeightNames checks that a HuBERT network reads "hubert."
// names, not "wav2vec2." ones, and that feat_proj_layer_norm false needs no
// projection layer norm.
func TestHubertWeightNames(t *testing.T) {
	v := variants[5] // HuBERT, feat_proj_layer_norm false
	c := smallConfig(v)
	s := randomStore(t, c, v, 2)
	if _, err := NewNetwork(c, s.Root()); err != nil {
		t.Fatal(err)
	}
	c.ModelType = ModelTypeWav2Vec2
	_, err := NewNetwork(c, s.Root())
	if !errors.Is(err, checkpoint.ErrMissingWeights) || !strings.Contains(err.Error(), "feature_projection.layer_norm") {
		t.Errorf("HuBERT weights as wav2vec2: err = %v, want the projection layer norm missing", err)
	}
}
