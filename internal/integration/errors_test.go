package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/gpt2"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tokenizer"
	"github.com/goformer/goformer/vit"
	"github.com/goformer/goformer/wav2vec2"
	"github.com/goformer/goformer/whisper"
)

// family names a model family with its fixture and loader.
type family struct {
	name    string
	fixture string
	// other is the fixture of another family, which load must refuse.
	other string
	load  func(dir string) (io.Closer, error)
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func closer(c io.Closer, err error) (io.Closer, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}

var families = []family{
	{"vit", "vit", "clip", func(d string) (io.Closer, error) { return closer(vit.Load(d)) }},
	{"clip", "clip", "vit", func(d string) (io.Closer, error) { return closer(clip.Load(d)) }},
	{"blip-caption", "blip-caption", "clip", func(d string) (io.Closer, error) { return closer(blip.Load(d)) }},
	{"blip-vqa", "blip-vqa", "vit", func(d string) (io.Closer, error) { return closer(blip.Load(d)) }},
	{"vit-gpt2", "vit-gpt2", "vit", func(d string) (io.Closer, error) {
		c, err := gpt2.LoadCaptioner(d)
		if err != nil {
			return nil, err
		}
		_ = c
		return nopCloser{}, nil
	}},
	{"wav2vec2", "wav2vec2", "whisper", func(d string) (io.Closer, error) {
		m, err := wav2vec2.Load(d)
		if err != nil {
			return nil, err
		}
		_ = m
		return nopCloser{}, nil
	}},
	{"whisper", "whisper", "wav2vec2", func(d string) (io.Closer, error) { return closer(whisper.Load(d)) }},
}

// copyModel copies fixtures/<name>/model into a temporary directory and
// lets edit change the copy's files (name → content; nil removes).
func copyModel(t *testing.T, name string, edit func(files map[string][]byte)) string {
	t.Helper()
	src := modelDir(t, name)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	edit(files)
	dst := t.TempDir()
	for n, b := range files {
		if b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestLoadErrors checks the loaders of every family: another family's
// checkpoint gives nn.ErrUnsupportedArchitecture, a truncated or garbled
// model.safetensors gives checkpoint.ErrCorrupt, a missing tensor
// checkpoint.ErrMissingWeights, a broken config.json nn.ErrConfig and a directory
// without weights checkpoint.ErrNotFound.
func TestLoadErrors(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			check := func(what string, dir string, want error) {
				t.Helper()
				m, err := f.load(dir)
				if err == nil {
					m.Close()
					t.Errorf("%s: loaded without error, want %v", what, want)
					return
				}
				if !errors.Is(err, want) {
					t.Errorf("%s: error %.400q does not wrap %v", what, err, want)
				}
			}
			check("another family's checkpoint ("+f.other+")", modelDir(t, f.other), nn.ErrUnsupportedArchitecture)
			check("truncated model.safetensors", copyModel(t, f.fixture, func(files map[string][]byte) {
				b := files["model.safetensors"]
				files["model.safetensors"] = b[:len(b)*2/3]
			}), checkpoint.ErrCorrupt)
			check("model.safetensors with a header length beyond the file", copyModel(t, f.fixture, func(files map[string][]byte) {
				b := bytes.Clone(files["model.safetensors"])
				binary.LittleEndian.PutUint64(b, uint64(len(b)))
				files["model.safetensors"] = b
			}), checkpoint.ErrCorrupt)
			check("model.safetensors that is not one", copyModel(t, f.fixture, func(files map[string][]byte) {
				files["model.safetensors"] = []byte("<html>404 Not Found</html>")
				delete(files, "pytorch_model.bin")
			}), checkpoint.ErrCorrupt)
			check("config.json that is not JSON", copyModel(t, f.fixture, func(files map[string][]byte) {
				files["config.json"] = []byte("{\"model_type\": ")
			}), nn.ErrConfig)
			check("no weights", copyModel(t, f.fixture, func(files map[string][]byte) {
				files["model.safetensors"] = nil
				files["pytorch_model.bin"] = nil
			}), checkpoint.ErrNotFound)
		})
	}
}

// pngHeader is testdata.PNGHeader followed by 64 zero bytes.
func pngHeader(w, h uint32) []byte {
	return append(testdata.PNGHeader(w, h), make([]byte, 64)...)
}

// wantErr fails unless err wraps every one of want.
func wantErr(t *testing.T, what string, err error, want ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, want)
		return
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("%s: error %.300q does not wrap %v", what, err, w)
		}
	}
}

// TestImageInputErrors checks the typed errors of image input, shared by
// every vision family: unknown formats, corrupt data, decompression bombs
// (rejected from the header), and images no model can take (empty).
func TestImageInputErrors(t *testing.T) {
	m := loadModels(t)
	ctx := context.Background()
	_, err := imageproc.Decode(strings.NewReader("RIFF....WAVEfmt this is not an image"))
	wantErr(t, "imageproc.Decode(WAV bytes)", err, imageproc.ErrUnsupportedImage)
	_, err = imageproc.Decode(bytes.NewReader(nil))
	wantErr(t, "imageproc.Decode(empty)", err, imageproc.ErrUnsupportedImage)
	trunc, err := os.ReadFile(testdata.Path(t, "media", "images", "truncated.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = imageproc.Decode(bytes.NewReader(trunc))
	wantErr(t, "imageproc.Decode(truncated.jpg)", err, imageproc.ErrInvalidImage)
	bomb := pngHeader(200_000, 200_000)
	_, err = imageproc.Decode(bytes.NewReader(bomb))
	wantErr(t, "imageproc.Decode(200000x200000 PNG)", err, imageproc.ErrImageTooLarge)

	// Files handed to CLIP's indexer go through the same decoder.
	dir := t.TempDir()
	files := map[string][]byte{"notes.png": []byte("hello, world"), "bomb.png": bomb, "truncated.jpg": trunc}
	wants := map[string]error{"notes.png": imageproc.ErrUnsupportedImage, "bomb.png": imageproc.ErrImageTooLarge, "truncated.jpg": imageproc.ErrInvalidImage}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := m.clip.IndexFiles(ctx, []string{p}, clip.IndexOptions{})
		wantErr(t, "clip.IndexFiles("+name+")", err, wants[name])
	}

	// An empty image is no model input, whichever family gets it.
	empty := image.NewRGBA(image.Rect(0, 0, 0, 0))
	_, err = m.vit.Classify(ctx, empty, 1)
	wantErr(t, "vit.Classify(empty image)", err, imageproc.ErrUnsupportedImage)
	_, err = m.clip.EmbedImages(ctx, []image.Image{empty})
	wantErr(t, "clip.EmbedImages(empty image)", err, imageproc.ErrUnsupportedImage)
	_, err = m.blipCap.Caption(ctx, []image.Image{empty}, blip.Options{})
	wantErr(t, "blip.Caption(empty image)", err, imageproc.ErrUnsupportedImage)
	_, err = m.blipVQA.Answer(ctx, []image.Image{empty}, []string{"what?"}, blip.Options{})
	wantErr(t, "blip.Answer(empty image)", err, imageproc.ErrUnsupportedImage)
	_, err = m.vitgpt2.Caption(ctx, empty, gpt2.CaptionOptions{})
	wantErr(t, "vit-gpt2 Caption(empty image)", err, imageproc.ErrUnsupportedImage)
}

// TestAudioInputErrors checks the typed errors of audio input through both
// speech families' reader entry points: unknown formats, corrupt files,
// unsupported sample sizes, audio longer than the limit (counted on the
// samples present: a header's claim alone is not refused, see
// audio.TestDecodeWAVSizes) and impossible sample rates.
func TestAudioInputErrors(t *testing.T) {
	m := loadModels(t)
	ctx := context.Background()
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"PNG bytes", pngHeader(4, 4), audio.ErrUnsupportedFormat},
		{"text", []byte("this is not audio at all, just some text"), audio.ErrUnsupportedFormat},
		{"WAV cut in its fmt chunk", testdata.WAVHeader(16000, 16, 1, 32000)[:30], audio.ErrCorrupt},
		{"WAV at 0 Hz", append(testdata.WAVHeader(0, 16, 1, 100), make([]byte, 100)...), audio.ErrCorrupt},
		{"3-bit WAV", append(testdata.WAVHeader(16000, 3, 1, 100), make([]byte, 100)...), audio.ErrUnsupportedFormat},
		// 4 hours of 8-bit samples at 1 Hz: the limit counts the samples
		// present, whatever the header declares.
		{"4-hour WAV", append(testdata.WAVHeader(1, 8, 1, 4*3600), make([]byte, 4*3600)...), audio.ErrTooLong},
	}
	for _, c := range cases {
		_, err := m.wav2vec2.TranscribeReader(ctx, bytes.NewReader(c.data), wav2vec2.Options{})
		wantErr(t, "wav2vec2.TranscribeReader("+c.name+")", err, c.want)
		_, err = m.whisper.TranscribeReader(ctx, bytes.NewReader(c.data), whisper.Options{})
		wantErr(t, "whisper.TranscribeReader("+c.name+")", err, c.want)
	}
}

// TestTextInputErrors checks over-long text: text beyond the tokenizers'
// input limit is refused with tokenizer.ErrInputTooLong where the family
// does not truncate by design (CLIP truncates to its context, as
// transformers does), and questions or prefixes longer than the model's
// positions give an error, never a panic.
func TestTextInputErrors(t *testing.T) {
	m := loadModels(t)
	ctx := context.Background()
	img := m.images["chelsea.png"]
	huge := strings.Repeat("cat ", tokenizer.DefaultMaxInputBytes/4+1)
	_, err := m.blipVQA.Answer(ctx, []image.Image{img}, []string{huge}, blip.Options{MaxNewTokens: 2})
	wantErr(t, "blip.Answer(17 MiB question)", err, tokenizer.ErrInputTooLong, blip.ErrInput)
	_, err = m.blipCap.CaptionWithPrefix(ctx, []image.Image{img}, huge, blip.Options{MaxNewTokens: 2})
	wantErr(t, "blip.CaptionWithPrefix(17 MiB prefix)", err, tokenizer.ErrInputTooLong, blip.ErrInput)

	long := strings.Repeat("cat ", 2000) // beyond every fixture's positions
	_, err = m.blipVQA.Answer(ctx, []image.Image{img}, []string{long}, blip.Options{MaxNewTokens: 2})
	wantErr(t, "blip.Answer(2000-token question)", err, blip.ErrInput)
	_, err = m.blipCap.CaptionWithPrefix(ctx, []image.Image{img}, long, blip.Options{MaxNewTokens: 2})
	wantErr(t, "blip.CaptionWithPrefix(2000-token prefix)", err, blip.ErrInput)

	// CLIP truncates to its context: a long text embeds like its first
	// 77 tokens.
	e, err := m.clip.EmbedTexts(ctx, []string{long, huge})
	if err != nil {
		t.Errorf("clip.EmbedTexts(long texts): %v", err)
	} else if len(e) != 2 {
		t.Errorf("clip.EmbedTexts: %d embeddings for 2 texts", len(e))
	}
}

// TestCancelledContext checks that every family's long calls return
// context.Canceled (errors.Is) for a cancelled context.
func TestCancelledContext(t *testing.T) {
	m := loadModels(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := m.images["chelsea.png"]
	calls := map[string]func() error{
		"vit.Classify": func() error { _, err := m.vit.Classify(ctx, img, 3); return err },
		"clip.Similarity": func() error {
			_, err := m.clip.Similarity(ctx, []string{"a cat"}, []image.Image{img})
			return err
		},
		"clip.EmbedTexts": func() error { _, err := m.clip.EmbedTexts(ctx, []string{"a cat"}); return err },
		"blip.Caption":    func() error { _, err := m.blipCap.Caption(ctx, []image.Image{img}, blip.Options{}); return err },
		"blip.Answer": func() error {
			_, err := m.blipVQA.Answer(ctx, []image.Image{img}, []string{"what?"}, blip.Options{})
			return err
		},
		"vit-gpt2 Caption":    func() error { _, err := m.vitgpt2.Caption(ctx, img, gpt2.CaptionOptions{}); return err },
		"wav2vec2.Transcribe": func() error { _, err := m.wav2vec2.Transcribe(ctx, m.jfk, wav2vec2.Options{}); return err },
		"whisper.Transcribe":  func() error { _, err := m.whisper.Transcribe(ctx, m.jfk, whisper.Options{}); return err },
		"whisper.DetectLanguage": func() error {
			mel, err := audio.LogMel(m.jfk, m.whisper.Config.NumMelBins)
			if err != nil {
				return err
			}
			_, err = m.whisper.DetectLanguage(ctx, mel)
			return err
		},
	}
	for name, call := range calls {
		wantErr(t, name, call(), context.Canceled)
	}
}
