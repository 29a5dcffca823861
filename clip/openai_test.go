package clip

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// openAITiny describes testdata/openai-tiny-*.pt (see make_openai.py).
type openAITiny struct {
	FixtureSHA256 string `json:"fixture_model_sha256"`
	TokenIDs      []int  `json:"token_ids"`
	TextHeads     int    `json:"text_heads"`
	VisionHeads   int    `json:"vision_heads"`
}

// loadOpenAITiny reads the description and skips when the fixture present
// is not the one the files were made from (another fixture set).
func loadOpenAITiny(t *testing.T, f *clipFixture) openAITiny {
	t.Helper()
	var d openAITiny
	testdata.ReadJSON(t, filepath.Join("testdata", "openai-tiny.json"), &d)
	model, err := os.ReadFile(filepath.Join(f.dir, "model", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(model)
	if hex.EncodeToString(sum[:]) != d.FixtureSHA256 {
		testdata.Missing(t, "testdata/openai-tiny-*.pt were made from another clip fixture; regenerate them with make_openai.py")
	}
	return d
}

// inputIDs returns the fixture's input ids in the tiny checkpoints'
// vocabulary (TokenIDs: the ids the cases use, in order).
func (d openAITiny) inputIDs(f *clipFixture) [][]int {
	remap := map[int]int{}
	for i, id := range d.TokenIDs {
		remap[id] = i
	}
	var ids [][]int
	for _, row := range f.cases.InputIDs {
		r := make([]int, len(row))
		for j, id := range row {
			r[j] = remap[id]
		}
		ids = append(ids, r)
	}
	return ids
}

func TestOpenAICheckpoints(t *testing.T) {
	f := loadClipFixture(t)
	tiny := loadOpenAITiny(t, f)
	ctx := context.Background()
	ids := tiny.inputIDs(f)
	hub := f.model.Config()

	for _, tc := range []struct {
		file string
		opt  OpenAIOptions
	}{
		// The TorchScript module records its head counts.
		{"openai-tiny-jit.pt", OpenAIOptions{}},
		// A state dict does not: build_model's width/64 would give 1 head.
		{"openai-tiny-state.pt", OpenAIOptions{TextHeads: tiny.TextHeads, VisionHeads: tiny.VisionHeads}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := LoadOpenAI(filepath.Join("testdata", tc.file), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			c := m.Config()
			if c.ProjectionDim != hub.ProjectionDim || c.Text.HiddenSize != hub.Text.HiddenSize ||
				c.Text.NumHiddenLayers != hub.Text.NumHiddenLayers || c.Text.NumAttentionHeads != hub.Text.NumAttentionHeads ||
				c.Text.IntermediateSize != hub.Text.IntermediateSize || c.Text.MaxPositionEmbeddings != hub.Text.MaxPositionEmbeddings ||
				c.Text.VocabSize != len(tiny.TokenIDs) ||
				c.Vision.HiddenSize != hub.Vision.HiddenSize || c.Vision.NumHiddenLayers != hub.Vision.NumHiddenLayers ||
				c.Vision.NumAttentionHeads != hub.Vision.NumAttentionHeads || c.Vision.IntermediateSize != hub.Vision.IntermediateSize ||
				c.Vision.ImageSize != hub.Vision.ImageSize || c.Vision.PatchSize != hub.Vision.PatchSize {
				t.Fatalf("inferred config %+v\ndoes not match the fixture's %+v", c, hub)
			}
			if m.HasTokenizer() {
				t.Error("no tokenizer files lie next to the checkpoint, yet one was loaded")
			}
			img, err := m.ImageFeatures(ctx, f.tensor(t, "pixel_values"))
			if err != nil {
				t.Fatal(err)
			}
			txt, err := m.TextFeatures(ctx, ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The TorchScript weights went through OpenAI's fp16 conversion,
			// which changes a few tiny values: well inside the tolerance.
			checkTol(t, "image_pooled", testdata.RowsDiff(t, "image_pooled", img.Pooled, f.tensor(t, "image_pooled")), 1e-4)
			checkTol(t, "image_embeds", testdata.RowsDiff(t, "image_embeds", img.Embeds, f.tensor(t, "image_embeds")), 1e-4)
			checkTol(t, "text_pooled", testdata.RowsDiff(t, "text_pooled", txt.Pooled, f.tensor(t, "text_pooled")), 1e-4)
			checkTol(t, "text_embeds", testdata.RowsDiff(t, "text_embeds", txt.Embeds, f.tensor(t, "text_embeds")), 1e-4)
			s, err := m.SimilarityOf(txt.Embeds, img.Embeds)
			if err != nil {
				t.Fatal(err)
			}
			checkTol(t, "logits_per_image", testdata.RowsDiff(t, "logits_per_image", s.LogitsPerImage, f.tensor(t, "logits_per_image")), 1e-3)
		})
	}

	t.Run("build_model heads", func(t *testing.T) {
		m, err := Load(filepath.Join("testdata", "openai-tiny-state.pt"))
		if err != nil {
			t.Fatal(err)
		}
		c := m.Config()
		if want := max(c.Text.HiddenSize/64, 1); c.Text.NumAttentionHeads != want {
			t.Errorf("text heads %d, want width/64 = %d", c.Text.NumAttentionHeads, want)
		}
		if want := max(c.Vision.HiddenSize/64, 1); c.Vision.NumAttentionHeads != want {
			t.Errorf("vision heads %d, want width/64 = %d", c.Vision.NumAttentionHeads, want)
		}
	})
}

// rewriteZip copies a zip, letting edit change (or drop, returning nil)
// each record's contents, and optionally adding records.
func rewriteZip(t *testing.T, src string, edit func(name string, data []byte) []byte, add map[string][]byte) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if data = edit(f.Name, data); data == nil {
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	for name, data := range add {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "edited.pt")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenAILoaderRejects(t *testing.T) {
	state := filepath.Join("testdata", "openai-tiny-state.pt")
	jit := filepath.Join("testdata", "openai-tiny-jit.pt")

	t.Run("forbidden global", func(t *testing.T) {
		// A pickle asking for os.system must be refused, never run.
		evil := []byte("\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
		for _, src := range []string{state, jit} {
			p := rewriteZip(t, src, func(name string, d []byte) []byte {
				if strings.HasSuffix(name, "/data.pkl") {
					return evil
				}
				return d
			}, nil)
			_, err := Load(p)
			if !errors.Is(err, checkpoint.ErrForbiddenPickle) {
				t.Errorf("%s with os.system: got %v, want ErrForbiddenPickle", filepath.Base(src), err)
			}
		}
	})

	t.Run("module classes only in TorchScript", func(t *testing.T) {
		// A plain state dict (no constants.pkl) naming __torch__ classes is
		// refused.
		p := rewriteZip(t, jit, func(name string, d []byte) []byte {
			if strings.HasSuffix(name, "/constants.pkl") {
				return nil
			}
			return d
		}, nil)
		_, err := Load(p)
		if !errors.Is(err, checkpoint.ErrForbiddenPickle) {
			t.Errorf("got %v, want ErrForbiddenPickle", err)
		}
	})

	t.Run("truncated storage", func(t *testing.T) {
		p := rewriteZip(t, jit, func(name string, d []byte) []byte {
			if strings.HasSuffix(name, "/data/9") { // the patch embedding
				return d[:len(d)/2]
			}
			return d
		}, nil)
		_, err := Load(p)
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("got %v, want ErrCorrupt", err)
		}
	})

	t.Run("missing storage", func(t *testing.T) {
		p := rewriteZip(t, state, func(name string, d []byte) []byte {
			if strings.HasSuffix(name, "/data/0") {
				return nil
			}
			return d
		}, nil)
		_, err := Load(p)
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("got %v, want ErrCorrupt", err)
		}
	})

	t.Run("garbage pickle", func(t *testing.T) {
		for _, cut := range []int{1, 10, 100, 1000} {
			p := rewriteZip(t, jit, func(name string, d []byte) []byte {
				if strings.HasSuffix(name, "/data.pkl") && cut < len(d) {
					return d[:cut]
				}
				return d
			}, nil)
			if _, err := Load(p); err == nil {
				t.Errorf("data.pkl cut at %d bytes: no error", cut)
			}
		}
	})

	t.Run("not a checkpoint", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.pt")
		os.WriteFile(p, []byte("hello, this is not a checkpoint"), 0o644)
		if _, err := Load(p); err == nil {
			t.Error("no error")
		}
	})
}

func TestFromOpenAINames(t *testing.T) {
	raw, ints, err := readCheckpointFile(filepath.Join("testdata", "openai-tiny-state.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ints) != 0 {
		t.Errorf("a state dict has no module attributes, got %v", ints)
	}
	copyOf := func() map[string]*tensor.Tensor {
		m := map[string]*tensor.Tensor{}
		for k, v := range raw {
			m[k] = v
		}
		return m
	}

	t.Run("split and transpose", func(t *testing.T) {
		st, cfg, err := FromOpenAI("state", copyOf(), OpenAIOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d := cfg.Text.HiddenSize
		in, _ := raw["transformer.resblocks.1.attn.in_proj_weight"]
		for i, p := range []string{"q_proj", "k_proj", "v_proj"} {
			got, ok := st.Get("text_model.encoder.layers.1.self_attn." + p + ".weight")
			if !ok {
				t.Fatalf("%s missing", p)
			}
			for r := 0; r < d; r++ {
				for c := 0; c < d; c++ {
					if got.At(r, c) != in.At(i*d+r, c) {
						t.Fatalf("%s[%d,%d] = %v, want in_proj[%d,%d] = %v", p, r, c, got.At(r, c), i*d+r, c, in.At(i*d+r, c))
					}
				}
			}
		}
		proj := raw["visual.proj"]
		vp, _ := st.Get("visual_projection.weight")
		if vp.Dim(0) != proj.Dim(1) || vp.Dim(1) != proj.Dim(0) || vp.At(3, 5) != proj.At(5, 3) {
			t.Errorf("visual_projection.weight %v is not visual.proj %v transposed", vp.Shape(), proj.Shape())
		}
	})

	t.Run("prefix stripped", func(t *testing.T) {
		m := map[string]*tensor.Tensor{}
		for k, v := range raw {
			m["module."+k] = v
		}
		if _, _, err := FromOpenAI("state", m, OpenAIOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unexpected tensor", func(t *testing.T) {
		m := copyOf()
		m["visual.extra_head.weight"] = tensor.New(2, 2)
		_, _, err := FromOpenAI("state", m, OpenAIOptions{})
		if !errors.Is(err, checkpoint.ErrMissingWeights) || !strings.Contains(err.Error(), "visual.extra_head.weight") {
			t.Errorf("got %v, want ErrMissingWeights naming the tensor", err)
		}
	})

	t.Run("missing tensors", func(t *testing.T) {
		m := copyOf()
		delete(m, "ln_final.weight")
		delete(m, "visual.proj")
		_, _, err := FromOpenAI("state", m, OpenAIOptions{})
		if !errors.Is(err, checkpoint.ErrMissingWeights) || !strings.Contains(err.Error(), "ln_final.weight") || !strings.Contains(err.Error(), "visual.proj") {
			t.Errorf("got %v, want ErrMissingWeights naming both", err)
		}
		m = copyOf()
		delete(m, "transformer.resblocks.0.mlp.c_fc.bias")
		st, cfg, err := FromOpenAI("state", m, OpenAIOptions{})
		if err == nil {
			_, err = New(cfg, st.Root())
		}
		if !errors.Is(err, checkpoint.ErrMissingWeights) || !strings.Contains(err.Error(), "text_model.encoder.layers.0.mlp.fc1.bias") {
			t.Errorf("got %v, want ErrMissingWeights naming the Hub name", err)
		}
	})

	t.Run("resnet refused", func(t *testing.T) {
		m := copyOf()
		m["visual.layer1.0.conv1.weight"] = tensor.New(1, 1, 1, 1)
		_, _, err := FromOpenAI("state", m, OpenAIOptions{})
		if !errors.Is(err, nn.ErrUnsupportedArchitecture) {
			t.Errorf("got %v, want ErrUnsupportedArchitecture", err)
		}
	})
}
