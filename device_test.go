package goformer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// TestDeviceMatchesHost loads every registered architecture's fixture on
// the host and on the checking device (whose storage host code cannot
// read: any read of a device tensor outside the backend panics) and runs
// every task it advertises on real inputs: the results must be identical,
// and the device must see only inputs going up and results coming down.
// This is what proves, without a GPU, that a device backend can run each
// whole model. The same runs on a CPU device of the model's own (Load with
// WithThreads) give the host's results too.
func TestDeviceMatchesHost(t *testing.T) {
	ctx := context.Background()
	img := mustImage(t, testdata.Path(t, "media", "images", "chelsea.png"))
	pcm := mustAudio(t, testdata.Path(t, "media", "audio", "jfk16k.wav"))
	for _, f := range Families() {
		for _, arch := range f.Architectures {
			t.Run(arch, func(t *testing.T) {
				dir := withArchitecture(t, filepath.Join(testdata.Fixture(t, archFixtures[arch]), "model"), arch)
				host, err := Load(ctx, dir)
				if err != nil {
					t.Fatal(err)
				}
				defer host.Close()
				threaded, err := Load(ctx, dir, WithThreads(3))
				if err != nil {
					t.Fatal(err)
				}
				defer threaded.Close()
				dev := tensor.NewCheckingDevice()
				m, err := Load(ctx, dir, WithDevice(dev))
				if err != nil {
					t.Fatal(err)
				}
				loaded := dev.Transfers()
				for _, tk := range m.Info().Tasks {
					want, err := runTask(ctx, host, tk, img, pcm)
					if err != nil {
						t.Fatalf("%s on the host: %v", tk, err)
					}
					before := dev.Transfers()
					got, err := runTask(ctx, m, tk, img, pcm)
					if err != nil {
						t.Fatalf("%s on the checking device: %v", tk, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s: device result differs from the host's:\n got  %+v\n want %+v", tk, got, want)
					}
					if got, err := runTask(ctx, threaded, tk, img, pcm); err != nil {
						t.Errorf("%s with 3 threads of its own: %v", tk, err)
					} else if !reflect.DeepEqual(got, want) {
						t.Errorf("%s: result with 3 threads of its own differs from the host's:\n got  %+v\n want %+v", tk, got, want)
					}
					tr := dev.Transfers()
					t.Logf("%s: %d uploads (%d bytes), %d downloads (%d bytes) for the call; %d uploads (%d bytes) at load",
						tk, tr.Uploads-before.Uploads, tr.UploadBytes-before.UploadBytes,
						tr.Downloads-before.Downloads, tr.DownloadBytes-before.DownloadBytes, loaded.Uploads, loaded.UploadBytes)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// runTask runs task tk of m on an image, a question, labels or audio; a
// panic (a host read of a device tensor) is returned as an error.
func runTask(ctx context.Context, m Model, tk string, img image.Image, pcm []float32) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	switch tk {
	case TaskClassify:
		return m.(Classifier).Classify(ctx, img, ClassifyOptions{TopK: 3})
	case TaskZeroShot:
		return m.(ZeroShotClassifier).ZeroShot(ctx, img, []string{"a cat", "a dog", "a rocket"}, ZeroShotOptions{})
	case TaskEmbed:
		e := m.(Embedder)
		iv, err := e.EmbedImages(ctx, []image.Image{img, img})
		if err != nil {
			return nil, err
		}
		tv, err := e.EmbedTexts(ctx, []string{"a photo of a cat", "two words"})
		return [2][][]float32{iv, tv}, err
	case TaskSearch:
		return nil, nil // an index over Embedder results (TaskEmbed covers the model)
	case TaskCaption:
		greedy, err := m.(Captioner).Caption(ctx, img, CaptionOptions{MaxNewTokens: 8})
		if err != nil {
			return nil, err
		}
		beam, err := m.(Captioner).Caption(ctx, img, CaptionOptions{MaxNewTokens: 8, Beams: 3})
		return [2]any{greedy, beam}, err
	case TaskVQA:
		return m.(Answerer).Answer(ctx, img, "what is in the picture?", AnswerOptions{})
	case TaskChat:
		return m.(Chatter).Chat(ctx, []Message{{Role: RoleUser, Text: "What is shown?", Images: []image.Image{img}}}, ChatOptions{MaxNewTokens: 6})
	case TaskTranscribe, TaskTranslate:
		tr := m.(Transcriber)
		greedy, err := tr.Transcribe(ctx, pcm, TranscribeOptions{Task: tk})
		if err != nil {
			return nil, err
		}
		beam, err := tr.Transcribe(ctx, pcm[:len(pcm)/2], TranscribeOptions{Task: tk, Beams: 2})
		if errors.Is(err, ErrInput) {
			return greedy, nil // no beam search (CTC)
		}
		return [2]any{greedy, beam}, err
	}
	return nil, fmt.Errorf("unknown task %s", tk)
}

func mustImage(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := imageproc.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustAudio(t *testing.T, path string) []float32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := DecodeAudio(f, 16000)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// TestWithThreads checks the options of a model's own thread count: a CPU
// device of that many threads, refused with another device or below 0.
func TestWithThreads(t *testing.T) {
	o, err := parseOptions([]Option{WithThreads(3)})
	if err != nil {
		t.Fatal(err)
	}
	if d := o.load.Device; d == nil || d.Name() != "cpu(3 threads)" {
		t.Errorf("WithThreads(3): device %v, want cpu(3 threads)", d)
	}
	if o, err := parseOptions(nil); err != nil || o.load.Device != nil {
		t.Errorf("no options: device %v, %v; want the host", o.load.Device, err)
	}
	for _, opts := range [][]Option{
		{WithThreads(-1)},
		{WithThreads(2), WithDevice(tensor.NewCheckingDevice())},
	} {
		if _, err := parseOptions(opts); !errors.Is(err, ErrInput) {
			t.Errorf("%d options: error %v, want ErrInput", len(opts), err)
		}
	}
}
