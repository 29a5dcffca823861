package llm

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// The TestDevice tests run the models on tensor.NewCheckingDevice, whose
// storage the host cannot read (Data panics): the forward passes and the
// searches must give results bit-identical to the host model's, with only
// inputs uploaded and logits downloaded.

// deviceModel builds the model of cfg on d from the same random weights as
// newTestModel, resident after Pack.
func deviceModel(t *testing.T, cfg Config, seed uint64, prefix string, d *tensor.Device) *Model {
	t.Helper()
	store := randomWeights(cfg, seed, prefix).store()
	store.Device = d
	t.Cleanup(func() { store.Close() })
	m, err := New(cfg, store.Root(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	if m.dev != d {
		t.Fatalf("model on %v, want %v", m.dev, d)
	}
	return m
}

// TestDevice_configs runs every architectural option on the checking
// device: logits of a left-padded batch, decoding steps and reordering,
// greedy and beam search, seeded sampling and streaming.
func TestDevice_configs(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			d := tensor.NewCheckingDevice()
			m, _ := newTestModel(t, cfg, 8, "language_model.")
			dm := deviceModel(t, cfg, 8, "language_model.", d)
			r := rand.New(rand.NewPCG(6, 7))
			v := cfg.VocabSize

			// A left-padded batch, all positions.
			rows := [][]int{randIDs(r, 7, v), randIDs(r, 7, v), randIDs(r, 7, v)}
			pad := []int{0, 4, 2}
			x, err := m.EmbedBatch(rows)
			if err != nil {
				t.Fatal(err)
			}
			dx, err := dm.EmbedBatch(rows)
			if err != nil {
				t.Fatal(err)
			}
			expected.SameBits(t, "EmbedBatch", x, dx)
			st, _ := m.NewState(3)
			defer st.Release()
			dst, _ := dm.NewState(3)
			defer dst.Release()
			lg, err := st.Logits(ctx, x, pad)
			if err != nil {
				t.Fatal(err)
			}
			var dlg *tensor.Tensor
			tr := expected.Transfers(d, func() { dlg, err = dst.Logits(ctx, dx, pad) })
			if err != nil {
				t.Fatal(err)
			}
			expected.SameBits(t, "logits", lg, dlg)
			if tr.Downloads != 0 || tr.Uploads != 1 {
				t.Errorf("logits of a padded batch: %+v, want the mask uploaded and nothing downloaded", tr)
			}
			// Steps with the padding, a reorder, and more steps.
			for i, ids := range [][]int{{5, 6, 7}, {1, 2, 3}, {4, 4}} {
				if i == 2 {
					if err := st.Reorder([]int{2, 0}); err != nil {
						t.Fatal(err)
					}
					if err := dst.Reorder([]int{2, 0}); err != nil {
						t.Fatal(err)
					}
				}
				lg, err := st.Step(ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				var dlg *tensor.Tensor
				tr := expected.Transfers(d, func() { dlg, err = dst.Step(ctx, ids) })
				if err != nil {
					t.Fatal(err)
				}
				expected.SameBits(t, "step logits", lg, dlg)
				if tr.Downloads != 0 || tr.Uploads > 1 {
					t.Errorf("step %d: %+v, want at most the mask uploaded", i, tr)
				}
			}

			// Generation: ids prompts, an embeddings prompt on the host (uploaded)
			// and one on the device.
			prompts := []Prompt{{IDs: randIDs(r, 5, v)}, {IDs: randIDs(r, 2, v)}}
			hostEmb, _ := m.Embed(randIDs(r, 4, v))
			devEmb, err := d.Upload(hostEmb)
			if err != nil {
				t.Fatal(err)
			}
			hp := append(slices.Clone(prompts), Prompt{IDs: []int{3}, Embeds: hostEmb}, Prompt{IDs: []int{3, 4}, Embeds: hostEmb})
			dp := append(slices.Clone(prompts), Prompt{IDs: []int{3}, Embeds: hostEmb}, Prompt{IDs: []int{3, 4}, Embeds: devEmb})
			for _, mode := range searchModes {
				opt := searchOptions(m, mode)
				for i := range hp {
					var hs, ds []int
					o := opt
					o.OnToken = func(id int) { hs = append(hs, id) }
					want, err := m.Generate(ctx, hp[i], o)
					if err != nil {
						t.Fatal(err)
					}
					o.OnToken = func(id int) { ds = append(ds, id) }
					var got []int
					tr := expected.Transfers(d, func() { got, err = dm.Generate(ctx, dp[i], o) })
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) || !slices.Equal(ds, hs) {
						t.Errorf("%s prompt %d: device %v (streamed %v), host %v (streamed %v)", mode, i, got, ds, want, hs)
					}
					// One download of the logits per step; the only upload
					// is a host prompt's embeddings.
					up := int64(0)
					if dp[i].Embeds != nil && dp[i].Embeds.OnHost() {
						up = 1
					}
					if tr.Uploads != up || tr.Downloads < 1 || tr.Downloads > int64(opt.MaxNewTokens) {
						t.Errorf("%s prompt %d: %+v for %d new tokens, want %d uploads and a download per step", mode, i, tr, len(got)-len(dp[i].IDs), up)
					}
				}
				if mode != "sample" {
					devicePair(t, mode+" batch", m, dm, d, hp, dp, opt)
				}
			}
		})
	}
}

// TestDevice_load loads checkpoints of every weight type with
// nn.WithDevice: 16-bit weights (and the embedding) kept 16-bit on the
// device, int8 quantized ones; the logits equal the host model's.
func TestDevice_load(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"opt_proj_untied", "llama_gqa", "llama_bias_tied"} {
		cfg := testConfigs()[name]
		for _, dt := range []string{"F32", "F16", "BF16", "F32+Q8", "F16+Q8"} {
			t.Run(name+"/"+dt, func(t *testing.T) {
				dir := t.TempDir()
				writeConfig(t, dir, cfg)
				fileType, opts := dt, []nn.LoadOption(nil)
				if fileType[3:] == "+Q8" {
					fileType, opts = dt[:3], []nn.LoadOption{nn.WithWeightType(tensor.WeightQ8)}
				}
				randomWeights(cfg, 21, "").write(t, filepath.Join(dir, "model.safetensors"), fileType)
				m, err := Load(dir, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				d := tensor.NewCheckingDevice()
				dm, err := Load(dir, append(opts, nn.WithDevice(d))...)
				if err != nil {
					t.Fatal(err)
				}
				defer dm.Close()
				ids := randIDs(rand.New(rand.NewPCG(2, 2)), 7, cfg.VocabSize)
				st, _ := m.NewState(1)
				defer st.Release()
				lg, err := st.PrefillIDs(ctx, [][]int{ids}, nil)
				if err != nil {
					t.Fatal(err)
				}
				dst, _ := dm.NewState(1)
				defer dst.Release()
				var dlg *tensor.Tensor
				tr := expected.Transfers(d, func() { dlg, err = dst.PrefillIDs(ctx, [][]int{ids}, nil) })
				if err != nil {
					t.Fatal(err)
				}
				expected.SameBits(t, "logits", lg, dlg)
				if tr != (tensor.Transfers{}) {
					t.Errorf("prefill of ids: %+v, want no transfers", tr)
				}
				for _, id := range []int{4, 9} {
					lg, err := st.Step(ctx, []int{id})
					if err != nil {
						t.Fatal(err)
					}
					dlg, err := dst.Step(ctx, []int{id})
					if err != nil {
						t.Fatal(err)
					}
					expected.SameBits(t, "step logits", lg, dlg)
				}
			})
		}
	}
}

// devicePair runs a generation on the host model and the device model and
// requires the same ids and streamed tokens, with only the logits of each
// step downloaded (and no upload: the inputs are on the device).
func devicePair(t *testing.T, what string, m, dm *Model, d *tensor.Device, hp, dp []Prompt, opt GenerateOptions) {
	t.Helper()
	ctx := context.Background()
	var hs, ds []int
	if len(hp) == 1 && opt.NumBeams <= 1 {
		opt.OnToken = func(id int) { hs = append(hs, id) }
	}
	want, err := m.GenerateBatch(ctx, hp, opt)
	if err != nil {
		t.Fatal(err)
	}
	if opt.OnToken != nil {
		opt.OnToken = func(id int) { ds = append(ds, id) }
	}
	var got [][]int
	tr := expected.Transfers(d, func() { got, err = dm.GenerateBatch(ctx, dp, opt) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Concat(got...), slices.Concat(want...)) || !slices.Equal(ds, hs) {
		t.Errorf("%s: device %v (streamed %v), host %v (streamed %v)", what, got, ds, want, hs)
	}
	maxUp := int64(0)
	for _, p := range dp {
		if p.Embeds != nil && p.Embeds.OnHost() {
			maxUp++
		}
	}
	if len(hp) > 1 {
		maxUp += int64(opt.MaxNewTokens) // the padding mask, once a step
	}
	if tr.Uploads > maxUp || tr.Downloads < 1 || tr.Downloads > int64(opt.MaxNewTokens) {
		t.Errorf("%s: %+v, want at most %d uploads and one download per step (%d new tokens at most)", what, tr, maxUp, opt.MaxNewTokens)
	}
}

// TestDevice_blip2_opt runs the OPT language model of the blip2 fixture on
// the checking device: teacher-forced logits and every generation of
// TestLM_blip2_opt identical to the host model's.
func TestDevice_blip2_opt(t *testing.T) {
	var cs blip2Cases
	dir := testdata.Cases(t, "blip2", &cs)
	d := tensor.NewCheckingDevice()
	m, dm := fixtureModel(t, dir), fixtureModel(t, dir, nn.WithDevice(d))
	lmi := expected.Tensors(t, "blip2", "language_model_inputs")[0]
	bos := m.Config().BOSTokenID
	// inputs returns the image's query outputs and the prompt's token
	// embeddings on the host and, spliced on the device, on d.
	inputs := func(t *testing.T, img int, ids []int) (*tensor.Tensor, *tensor.Tensor) {
		return blip2Inputs(t, m, lmi.Index(img), ids), blip2Inputs(t, dm, upload(t, d, lmi.Index(img)), ids)
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "blip2 teacher_forced case")
		}
		x, dx := inputs(t, testdata.Index(t, cs.Images, tf.Image), tf.IDs)
		lg := logitsOf(t, m, x)
		for _, in := range []*tensor.Tensor{dx, x} { // device inputs, host inputs
			expected.SameBits(t, "teacher-forced logits", lg, logitsOf(t, dm, in))
		}
	})

	for _, kind := range []string{"unconditional", "prompted", "unconditional_beam3"} {
		t.Run(kind, func(t *testing.T) {
			g, ok := cs.Generate[kind]
			if !ok {
				testdata.Missing(t, "generate settings for %s", kind)
			}
			opt := g.options(m)
			var hp, dp []Prompt
			for i := range cs.Images {
				ids := []int{bos}
				if kind == "prompted" {
					if len(cs.Prompted) != len(cs.Images) {
						t.Fatalf("%d prompted cases for %d images", len(cs.Prompted), len(cs.Images))
					}
					ids = cs.Prompted[i].PromptIDs
				}
				x, dx := inputs(t, i, ids)
				hp = append(hp, Prompt{IDs: []int{bos}, Embeds: x})
				dp = append(dp, Prompt{IDs: []int{bos}, Embeds: dx})
				devicePair(t, cs.Images[i], m, dm, d, hp[i:i+1], dp[i:i+1], opt)
			}
			if kind == "prompted" {
				// Prompts of different lengths: a left-padded batch.
				devicePair(t, "batch", m, dm, d, hp, dp, opt)
			}
		})
	}
	t.Run("sample", func(t *testing.T) {
		x, dx := inputs(t, 0, []int{bos})
		opt := m.DefaultOptions()
		opt.MaxNewTokens = 12
		opt.Sample = &generate.Sampling{Temperature: 0.9, TopK: 30, TopP: 0.9, Seed: 5}
		devicePair(t, "sampling", m, dm, d, []Prompt{{IDs: []int{bos}, Embeds: x}}, []Prompt{{IDs: []int{bos}, Embeds: dx}}, opt)
	})
}

// TestDevice_llava_llama runs the Llama language model of the llava
// fixture on the checking device: teacher-forced logits and the greedy
// generations of TestLM_llava_llama identical to the host model's, beam
// search and seeded sampling too.
func TestDevice_llava_llama(t *testing.T) {
	var cs llavaCases
	dir := testdata.Cases(t, "llava", &cs)
	d := tensor.NewCheckingDevice()
	m, dm := fixtureModel(t, dir), fixtureModel(t, dir, nn.WithDevice(d))
	feats := expected.Tensors(t, "llava", "image_features")[0]
	// merged returns the prompt's embeddings with the image's features in
	// place of its <image> token, built on the host and on d.
	merged := func(t *testing.T, img int, ids []int) (*tensor.Tensor, *tensor.Tensor) {
		x, _ := llavaMerged(t, m, feats.Index(img), cs.ImageTokenIndex, ids)
		dx, _ := llavaMerged(t, dm, upload(t, d, feats.Index(img)), cs.ImageTokenIndex, ids)
		return x, dx
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "llava teacher_forced case")
		}
		x, dx := merged(t, testdata.Index(t, cs.Images, tf.Image), tf.IDs)
		lg := logitsOf(t, m, x)
		for _, in := range []*tensor.Tensor{dx, x} {
			expected.SameBits(t, "teacher-forced logits", lg, logitsOf(t, dm, in))
		}
	})

	t.Run("generate", func(t *testing.T) {
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		for _, c := range cs.Cases {
			x, dx := merged(t, testdata.Index(t, cs.Images, c.Image), c.InputIDs)
			hp, dp := []Prompt{{IDs: c.InputIDs, Embeds: x}}, []Prompt{{IDs: c.InputIDs, Embeds: dx}}
			opt := cs.Generate.options(m)
			devicePair(t, c.Image+" greedy", m, dm, d, hp, dp, opt)
			opt.NumBeams = 3
			devicePair(t, c.Image+" beam", m, dm, d, hp, dp, opt)
			opt.NumBeams = 1
			opt.Sample = &generate.Sampling{Temperature: 0.7, TopK: 40, TopP: 0.9, Seed: 11}
			devicePair(t, c.Image+" sampling", m, dm, d, hp, dp, opt)
		}
	})
}

// upload copies x to d.
func upload(t *testing.T, d *tensor.Device, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	u, err := d.Upload(x.Contiguous())
	if err != nil {
		t.Fatal(err)
	}
	return u
}
