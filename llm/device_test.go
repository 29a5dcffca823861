package llm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/expected"
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
	m, err := New(cfg, store.Root().Sub(strings.TrimSuffix(prefix, ".")))
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
			must := func(x *tensor.Tensor, err error) *tensor.Tensor {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return x
			}
			x, dx := must(m.EmbedBatch(rows)), must(dm.EmbedBatch(rows))
			expected.SameBits(t, "EmbedBatch", x, dx)
			st, _ := m.NewState(3)
			defer st.Release()
			dst, _ := dm.NewState(3)
			defer dst.Release()
			tr := expected.SameOnDevice(t, "logits", d,
				func() (*tensor.Tensor, error) { return st.Logits(ctx, x, pad) },
				func() (*tensor.Tensor, error) { return dst.Logits(ctx, dx, pad) })
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
				tr := expected.SameOnDevice(t, "step logits", d,
					func() (*tensor.Tensor, error) { return st.Step(ctx, ids) },
					func() (*tensor.Tensor, error) { return dst.Step(ctx, ids) })
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
				dst, _ := dm.NewState(1)
				defer dst.Release()
				tr := expected.SameOnDevice(t, "logits", d,
					func() (*tensor.Tensor, error) { return st.PrefillIDs(ctx, [][]int{ids}, nil) },
					func() (*tensor.Tensor, error) { return dst.PrefillIDs(ctx, [][]int{ids}, nil) })
				if tr != (tensor.Transfers{}) {
					t.Errorf("prefill of ids: %+v, want no transfers", tr)
				}
				for _, id := range []int{4, 9} {
					expected.SameOnDevice(t, "step logits", d,
						func() (*tensor.Tensor, error) { return st.Step(ctx, []int{id}) },
						func() (*tensor.Tensor, error) { return dst.Step(ctx, []int{id}) })
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
func TestDevice_blip2_opt(t *testing.T) { testDeviceLM(t, blip2Fixture(t)) }

// TestDevice_llava_llama runs the Llama language model of the llava
// fixture on the checking device: teacher-forced logits and the greedy
// generations of TestLM_llava_llama identical to the host model's.
func TestDevice_llava_llama(t *testing.T) { testDeviceLM(t, llavaFixture(t)) }

// testDeviceLM runs the fixture's language model on the checking device,
// its inputs built there (and, for the teacher-forced logits, on the host
// too): the teacher-forced logits and every generation identical to the
// host model's, the batch of generations too, and for the generations of
// the first kind beam search and seeded sampling as well.
func testDeviceLM(t *testing.T, f *lmFixture) {
	d := tensor.NewCheckingDevice()
	m, dm := fixtureModel(t, f.dir), fixtureModel(t, f.dir, nn.WithDevice(d))

	t.Run("teacher_forced", func(t *testing.T) {
		x, _ := f.tfInputs(t, m, nil)
		dx, _ := f.tfInputs(t, dm, d)
		lg := logitsOf(t, m, x)
		for _, in := range []*tensor.Tensor{dx, x} { // device inputs, host inputs
			expected.SameBits(t, "teacher-forced logits", lg, logitsOf(t, dm, in))
		}
	})

	for _, kind := range f.kinds {
		t.Run(kind, func(t *testing.T) {
			var hp, dp []Prompt
			var opt GenerateOptions
			for _, g := range f.gens {
				if g.kind != kind {
					continue
				}
				what := fmt.Sprintf("image %s", f.images[g.image])
				h, dv := f.prompt(t, m, nil, g), f.prompt(t, dm, d, g)
				hp, dp = append(hp, h), append(dp, dv)
				opt = options(m, g.settings)
				devicePair(t, what, m, dm, d, []Prompt{h}, []Prompt{dv}, opt)
				if kind != f.kinds[0] {
					continue
				}
				beam := opt
				beam.NumBeams = 3
				devicePair(t, what+" beam", m, dm, d, []Prompt{h}, []Prompt{dv}, beam)
				sample := opt
				sample.Sample = &generate.Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: 11}
				devicePair(t, what+" sampling", m, dm, d, []Prompt{h}, []Prompt{dv}, sample)
			}
			if kind == f.batchKind {
				// Prompts of different lengths: a left-padded batch.
				devicePair(t, "batch", m, dm, d, hp, dp, opt)
			}
		})
	}
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
