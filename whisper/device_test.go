package whisper

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// The device tests load a fixture twice, on the host and on the checking
// device (which refuses host reads of its storage and counts every copy
// between it and the host), run the same forward passes and decoding on
// both, and require identical results: bit for bit for tensors, equal ids,
// text and segments. The transfer counts show that the forward passes run
// on the device with only the mel windows going up and, per decoding step,
// one row of logits per sequence coming down.

// loadOnDevice loads the model at path on a new checking device.
func loadOnDevice(t *testing.T, path string) (*Model, *tensor.Device) {
	t.Helper()
	d := tensor.NewCheckingDevice()
	m, err := Load(path, WithDevice(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if m.Device() != d {
		t.Fatalf("model on %v, want %v", m.Device(), d)
	}
	return m, d
}

// loadOnHost loads the model at path on the host.
func loadOnHost(t *testing.T, path string) *Model {
	t.Helper()
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// sameValue requires two results to print identically (%+v prints every
// float32/float64 so that it reads back to the same value, NaN included).
func sameValue(t *testing.T, name string, want, got any) {
	t.Helper()
	w, g := fmt.Sprintf("%+v", want), fmt.Sprintf("%+v", got)
	if w != g {
		t.Errorf("%s differs on the device:\n got %.600s\nwant %.600s", name, g, w)
	}
}

// checkSteps requires what a decoding call moved between host and device
// to be the mel windows up (at most up uploads of a window's mel or less
// each) and at most down downloads of no more than rowBytes each.
func checkSteps(t *testing.T, name string, tr tensor.Transfers, up int, melBytes int64, down int, rowBytes int64) {
	t.Helper()
	t.Logf("%s: %d uploads (%d bytes), %d downloads (%d bytes)", name, tr.Uploads, tr.UploadBytes, tr.Downloads, tr.DownloadBytes)
	if tr.Uploads > int64(up) || tr.UploadBytes > int64(up)*melBytes {
		t.Errorf("%s: %d uploads of %d bytes, want at most %d of a %d-byte mel window", name, tr.Uploads, tr.UploadBytes, up, melBytes)
	}
	if tr.Downloads > int64(down) || tr.DownloadBytes > tr.Downloads*rowBytes {
		t.Errorf("%s: %d downloads of %d bytes, want at most %d of at most %d bytes (one logits row per sequence)", name, tr.Downloads, tr.DownloadBytes, down, rowBytes)
	}
}

func TestDevice_whisper(t *testing.T) {
	var cases whisperCases
	host, get := loadFixture(t, "whisper", &cases)
	dm, dev := loadOnDevice(t, filepath.Join(testdata.Fixture(t, "whisper"), "model"))
	feat := get("input_features")
	ctx := context.Background()
	cfg := host.Config
	mel := feat.Index(0).Contiguous()
	melBytes := int64(4 * mel.Len())
	rowBytes := int64(4 * cfg.VocabSize)

	// encoder: the mel goes up, nothing comes down
	encH, encD, tr := expected.OnBoth(t, dev, "Encode", host, dm, func(m *Model) (*tensor.Tensor, error) { return m.Encode(ctx, mel) })
	if tr.Uploads != 1 || tr.UploadBytes != melBytes || tr.Downloads != 0 {
		t.Errorf("Encode: %+v, want the mel (%d bytes) up and nothing down", tr, melBytes)
	}
	expected.SameBits(t, "encoder_out", encH, encD)

	// teacher-forced logits and cross-attention probabilities: no transfer
	forced := func(m *Model, enc *tensor.Tensor) (*tensor.Tensor, []*tensor.Tensor) {
		probs := make([]*tensor.Tensor, cfg.DecoderLayers)
		return forcedLogits(t, ctx, m, enc, cases.TeacherForcedIDs, probs), probs
	}
	lH, pH := forced(host, encH)
	var lD *tensor.Tensor
	var pD []*tensor.Tensor
	if tr := expected.Transfers(dev, func() { lD, pD = forced(dm, encD) }); tr != (tensor.Transfers{}) {
		t.Errorf("teacher-forced decoder pass: %+v, want no transfer", tr)
	}
	expected.SameBits(t, "teacher_forced_logits", lH, lD)
	for l := range pH {
		expected.SameBits(t, fmt.Sprintf("cross-attention probabilities of layer %d", l), pH[l], pD[l])
	}

	// one token at a time through the KV cache: no transfer per step
	decH, err := host.NewDecoder(encH)
	if err != nil {
		t.Fatal(err)
	}
	decD, err := dm.NewDecoder(encD)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range cases.TeacherForcedIDs {
		h, err := decH.Forward(ctx, [][]int{{id}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := decH.Logits(h)
		var got *tensor.Tensor
		tr := expected.Transfers(dev, func() {
			h, err := decD.Forward(ctx, [][]int{{id}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = decD.Logits(h)
		})
		if tr != (tensor.Transfers{}) {
			t.Errorf("decoder step %d: %+v, want no transfer", i, tr)
		}
		expected.SameBits(t, fmt.Sprintf("incremental logits %d", i), want, got)
	}
	// beams: the caches reordered on the device
	for _, dec := range []*Decoder{decH, decD} {
		if err := dec.Reorder([]int{0, 0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	rows := [][]int{{1}, {2}, {3}}
	hH, err := decH.Forward(ctx, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	hD, err := decD.Forward(ctx, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	expected.SameBits(t, "reordered decoder states", hH, hD)
	decH.Release()
	decD.Release()

	// language detection: one row of logits down
	langH, probsH, err := host.languageLogits(ctx, encH)
	if err != nil {
		t.Fatal(err)
	}
	var langD []*tensor.Tensor
	var probsD []map[string]float64
	tr = expected.Transfers(dev, func() {
		if langD, probsD, err = dm.languageLogits(ctx, encD); err != nil {
			t.Fatal(err)
		}
	})
	checkSteps(t, "language detection", tr, 0, melBytes, 1, rowBytes)
	sameValue(t, "language logits", langH[0].Data(), langD[0].Data())
	sameValue(t, "language probabilities", probsH, probsD)

	// transformers-style greedy and beam search
	for _, beams := range []int{1, 3} {
		want := cases.Greedy
		if beams > 1 {
			want = cases.Beam3
		}
		opt := GenerateOptions{Prompt: cases.Prompt, MaxNewTokens: len(want) - len(cases.Prompt), NumBeams: beams}
		idsH, idsD, tr := expected.OnBoth(t, dev, fmt.Sprintf("Generate, %d beams", beams), host, dm, func(m *Model) ([]int, error) { return m.Generate(ctx, mel, opt) })
		if !slices.Equal(idsD, idsH) || !slices.Equal(idsD, want) {
			t.Errorf("Generate with %d beams: device %v, host %v, want %v", beams, idsD, idsH, want)
		}
		checkSteps(t, fmt.Sprintf("Generate, %d beams", beams), tr, 1, melBytes, opt.MaxNewTokens, int64(beams)*rowBytes)
	}

	// OpenAI's decoding task: greedy with timestamps and language
	// detection, beam search, best-of sampling
	const sampleLen = 24
	for _, opt := range []DecodingOptions{
		{SampleLen: sampleLen},
		{SampleLen: sampleLen, Language: "en", BeamSize: 3},
		{SampleLen: sampleLen, Language: "en", Temperature: 0.7, BestOf: 2, Seed: 3},
		{SampleLen: sampleLen, Language: "en", WithoutTimestamps: true, PromptText: "a prompt"},
	} {
		name := fmt.Sprintf("Decode %+v", opt)
		resH, resD, tr := expected.OnBoth(t, dev, name, host, dm, func(m *Model) ([]DecodingResult, error) { return m.Decode(ctx, mel, opt) })
		sameValue(t, name, resH, resD)
		// per step one logits row per sequence, and the no-speech and
		// language logits at the start
		group := max(opt.BeamSize, opt.BestOf, 1)
		checkSteps(t, name, tr, 1, melBytes, sampleLen+2, int64(group)*rowBytes)
	}

	// long-form transcription with word timestamps (jfk.flac followed
	// by silence, as TestLongForm)
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	pcm = append(pcm, make([]float32, 50*audio.SampleRate)...)
	for _, words := range []bool{false, true} {
		opt := Options{Language: "en", Temperatures: []float64{0}, MaxTokens: 48, WordTimestamps: words}
		resH, resD, tr := expected.OnBoth(t, dev, "long-form Transcribe", host, dm, func(m *Model) (*Result, error) { return m.Transcribe(ctx, pcm, opt) })
		t.Logf("long-form (word timestamps %v): %d segments; %d uploads (%d bytes), %d downloads (%d bytes)",
			words, len(resD.Segments), tr.Uploads, tr.UploadBytes, tr.Downloads, tr.DownloadBytes)
		if len(resH.Segments) == 0 {
			t.Fatal("no segments")
		}
		sameValue(t, fmt.Sprintf("Transcribe (word timestamps %v)", words), resH, resD)
	}
}

func TestDevice_whisper_openai(t *testing.T) {
	var cases openaiCases
	dir, get := openFixture(t, "whisper-openai", &cases)
	melPadded := get("mel_padded")
	ctx := context.Background()

	// the Hub checkpoint and OpenAI's .pt (LoadOpenAI), each on both
	hubH := loadOnHost(t, filepath.Join(dir, "model"))
	hubD, hubDev := loadOnDevice(t, filepath.Join(dir, "model"))
	oaiH := loadOnHost(t, filepath.Join(dir, "model", "openai.pt"))
	oaiD, oaiDev := loadOnDevice(t, filepath.Join(dir, "model", "openai.pt"))
	cfg := hubH.Config
	w, err := audio.MelWindow(melPadded, 0, cfg.NumFrames())
	if err != nil {
		t.Fatal(err)
	}
	melBytes := int64(4 * w.Len())
	for _, c := range []struct {
		name string
		h, d *Model
		dev  *tensor.Device
	}{{"hub", hubH, hubD, hubDev}, {"openai.pt", oaiH, oaiD, oaiDev}} {
		encH, encD, tr := expected.OnBoth(t, c.dev, c.name+" Encode", c.h, c.d, func(m *Model) (*tensor.Tensor, error) { return m.Encode(ctx, w) })
		checkSteps(t, c.name+" Encode", tr, 1, melBytes, 0, 0)
		expected.SameBits(t, c.name+" encoder output", encH, encD)
		tensor.Release(encH)
		tensor.Release(encD)
	}

	probsH, probsD, tr := expected.OnBoth(t, hubDev, "DetectLanguage", hubH, hubD, func(m *Model) ([]LanguageProb, error) { return m.DetectLanguage(ctx, melPadded) })
	checkSteps(t, "DetectLanguage", tr, 1, melBytes, 1, int64(4*cfg.VocabSize))
	sameValue(t, "DetectLanguage", probsH, probsD)

	// Cross-attention keys and values packed F16 (AttentionPacked, also
	// for the word-timing weights) and int8 weights (the tied embedding
	// read from the table kept beside them), on a float32 checkpoint.
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"f16 keys and values", []Option{WithKVType(tensor.WeightF16)}},
		{"int8 weights", []Option{WithWeightType(tensor.WeightQ8)}},
	} {
		path := filepath.Join(dir, "model")
		h, err := Load(path, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Load(path, append(c.opts, WithDevice(tensor.NewCheckingDevice()))...)
		if err != nil {
			t.Fatal(err)
		}
		opt := Options{Language: "en", Temperatures: []float64{0}, MaxTokens: 48, WordTimestamps: true}
		resH, resD, _ := expected.OnBoth(t, d.Device(), c.name, h, d, func(m *Model) (*Result, error) { return m.Transcribe(ctx, pcm, opt) })
		sameValue(t, c.name, resH, resD)
		h.Close()
		d.Close()
	}

	eachRun(t, cases, func(t *testing.T, name string, _ openaiRun, opt Options) {
		resH, resD, tr := expected.OnBoth(t, oaiDev, name, oaiH, oaiD, func(m *Model) (*Result, error) { return m.TranscribeMel(ctx, melPadded, opt) })
		t.Logf("%d segments; %d uploads (%d bytes), %d downloads (%d bytes)", len(resD.Segments), tr.Uploads, tr.UploadBytes, tr.Downloads, tr.DownloadBytes)
		sameValue(t, name, resH, resD)
	})
}
