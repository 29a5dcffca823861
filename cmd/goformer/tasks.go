package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"strings"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/gpt2"
	"github.com/goformer/goformer/vit"
	"github.com/goformer/goformer/wav2vec2"
	"github.com/goformer/goformer/whisper"
)

// errBadInput marks a request the model cannot take as given (an option the
// family does not have, a missing question). The server answers it with 400.
var errBadInput = errors.New("invalid input")

// decodeImageFile reads an image file; errors name the file.
func decodeImageFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := vit.DecodeImage(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// decodeImageBytes decodes an uploaded image; name is used in errors.
func decodeImageBytes(name string, data []byte) (image.Image, error) {
	img, err := vit.DecodeImage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return img, nil
}

// Classification is the result of classify for one image.
type Classification struct {
	Image       string           `json:"image,omitempty"`
	Predictions []vit.Prediction `json:"predictions"`
}

func (m *model) classify(ctx context.Context, img image.Image, k int) ([]vit.Prediction, error) {
	if m.vit == nil {
		return nil, m.wrongTask(taskClassify)
	}
	return m.vit.Classify(ctx, img, k)
}

// ZeroShotResult is the result of zeroshot for one image.
type ZeroShotResult struct {
	Image  string            `json:"image,omitempty"`
	Labels []clip.LabelScore `json:"labels"`
}

func (m *model) zeroShot(ctx context.Context, img image.Image, labels []string, template string, k int) ([]clip.LabelScore, error) {
	if m.clip == nil {
		return nil, m.wrongTask(taskZeroShot)
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("%w: zero-shot classification needs labels", errBadInput)
	}
	return m.clip.ZeroShot(ctx, img, labels, clip.ZeroShotOptions{Template: template, TopK: k})
}

// Embedding is one embedded input.
type Embedding struct {
	// Input is the text, or the image's name.
	Input string `json:"input"`
	// Type is "text" or "image".
	Type string `json:"type"`
	// Embedding is the unit-norm vector in the joint text–image space.
	Embedding []float32 `json:"embedding"`
}

func (m *model) embedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	if m.clip == nil {
		return nil, m.wrongTask(taskEmbed)
	}
	return m.clip.EmbedTexts(ctx, texts)
}

func (m *model) embedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	if m.clip == nil {
		return nil, m.wrongTask(taskEmbed)
	}
	return m.clip.EmbedImages(ctx, imgs)
}

// CaptionResult is the caption of one image.
type CaptionResult struct {
	Image string `json:"image,omitempty"`
	Text  string `json:"text"`
}

// captionParams are the caption options of every captioning family.
type captionParams struct {
	// Prompt is a text the caption continues (BLIP only).
	Prompt string
	// Beams > 1 uses beam search; 0 takes the checkpoint's setting.
	Beams int
	// MaxNewTokens bounds the caption's length; 0 takes the checkpoint's.
	MaxNewTokens int
}

func (m *model) caption(ctx context.Context, img image.Image, p captionParams) (string, error) {
	if p.Beams < 0 || p.MaxNewTokens < 0 {
		return "", fmt.Errorf("%w: beams and max tokens must not be negative", errBadInput)
	}
	switch {
	case m.blip != nil && m.blip.Task() == blip.TaskCaptioning:
		opt := blip.Options{NumBeams: p.Beams, MaxNewTokens: p.MaxNewTokens}
		var caps []blip.Caption
		var err error
		if p.Prompt != "" {
			caps, err = m.blip.CaptionWithPrefix(ctx, []image.Image{img}, p.Prompt, opt)
		} else {
			caps, err = m.blip.Caption(ctx, []image.Image{img}, opt)
		}
		if err != nil {
			return "", err
		}
		return caps[0].Text, nil
	case m.vitgpt2 != nil:
		if p.Prompt != "" {
			return "", fmt.Errorf("%w: %s (ViT-GPT2) does not take a prompt; use a BLIP captioning model", errBadInput, m.Name)
		}
		c, err := m.vitgpt2.Caption(ctx, img, gpt2.CaptionOptions{Beams: p.Beams, MaxNewTokens: p.MaxNewTokens})
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(c.Text), nil
	}
	return "", m.wrongTask(taskCaption)
}

// AnswerResult is the answer to a question about one image.
type AnswerResult struct {
	Image    string `json:"image,omitempty"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

func (m *model) answer(ctx context.Context, img image.Image, question string, p captionParams) (string, error) {
	if m.blip == nil || m.blip.Task() != blip.TaskQuestionAnswering {
		return "", m.wrongTask(taskVQA)
	}
	if strings.TrimSpace(question) == "" {
		return "", fmt.Errorf("%w: no question", errBadInput)
	}
	if p.Prompt != "" {
		return "", fmt.Errorf("%w: question answering takes no prompt", errBadInput)
	}
	if p.Beams < 0 || p.MaxNewTokens < 0 {
		return "", fmt.Errorf("%w: beams and max tokens must not be negative", errBadInput)
	}
	ans, err := m.blip.Answer(ctx, []image.Image{img}, []string{question}, blip.Options{NumBeams: p.Beams, MaxNewTokens: p.MaxNewTokens})
	if err != nil {
		return "", err
	}
	return ans[0].Text, nil
}

// transcribeParams are the speech options of both speech families.
type transcribeParams struct {
	// Task is "transcribe" or "translate" (Whisper only).
	Task string
	// Language is a code ("en") or an English name; "" detects it.
	// wav2vec2 models are trained on one language and ignore it.
	Language string
	// Prompt is text the first window continues (Whisper only).
	Prompt string
	// Temperature is the first sampling temperature; 0 is greedy.
	Temperature float64
	// Fallback is the temperature increment tried when a window fails
	// OpenAI's compression-ratio or log-probability thresholds; 0 disables
	// the fallback.
	Fallback float64
	// Beam > 1 uses beam search at temperature 0 (Whisper only).
	Beam int
	// Words adds word-level timestamps.
	Words bool
	// Progress, when set, is called with the seconds of audio transcribed.
	Progress func(seconds float64)
}

// temperatures is OpenAI's fallback schedule: np.arange(t, 1.0+1e-6, inc).
func temperatures(t, inc float64) []float64 {
	if inc <= 0 {
		return []float64{t}
	}
	var out []float64
	for i := 0; ; i++ {
		x := t + float64(i)*inc
		if x > 1.0+1e-6 {
			break
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		out = []float64{t}
	}
	return out
}

// sampleRate is the rate the model's audio must be at.
func (m *model) sampleRate() int {
	if m.w2v != nil {
		return m.w2v.SampleRate()
	}
	return audio.SampleRate
}

// decodeAudio reads an audio file's samples as mono at rate Hz.
func decodeAudio(r io.Reader, rate int) ([]float32, error) {
	if rate == audio.SampleRate {
		return audio.Load16k(r)
	}
	buf, err := audio.Decode(r)
	if err != nil {
		return nil, err
	}
	return audio.Resample(buf.Mono(), buf.SampleRate, rate)
}

// Transcript is a transcription with what the output formats need.
type Transcript struct {
	// Task is "transcribe" or "translate".
	Task string
	// Duration is the audio's length in seconds.
	Duration float64
	// Result holds the text and segments (one segment for CTC models).
	Result *whisper.Result
	// Words reports whether word timestamps were computed.
	Words bool
}

func (m *model) transcribe(ctx context.Context, pcm []float32, p transcribeParams) (*Transcript, error) {
	task := p.Task
	if task == "" {
		task = taskTranscribe
	}
	if task != taskTranscribe && task != taskTranslate {
		return nil, fmt.Errorf("%w: task %q (want transcribe or translate)", errBadInput, task)
	}
	if p.Temperature < 0 || p.Temperature > 1 {
		return nil, fmt.Errorf("%w: temperature %g outside [0, 1]", errBadInput, p.Temperature)
	}
	if p.Beam < 0 {
		return nil, fmt.Errorf("%w: beam size %d", errBadInput, p.Beam)
	}
	duration := float64(len(pcm)) / float64(m.sampleRate())
	t := &Transcript{Task: task, Duration: duration, Words: p.Words}
	switch {
	case m.whisper != nil:
		if p.Language != "" {
			tok := m.whisper.Tokenizer()
			if tok == nil {
				return nil, fmt.Errorf("%w: %s has no tokenizer", errBadInput, m.Name)
			}
			if _, err := tok.LanguageToken(p.Language); err != nil {
				return nil, fmt.Errorf("%w: %v", errBadInput, err)
			}
		}
		opt := whisper.Options{
			Task:           task,
			Language:       p.Language,
			InitialPrompt:  p.Prompt,
			Temperatures:   temperatures(p.Temperature, p.Fallback),
			WordTimestamps: p.Words,
		}
		if p.Beam > 1 {
			opt.BeamSize = p.Beam
		}
		if p.Progress != nil {
			opt.OnSegment = func(s whisper.Segment) { p.Progress(s.End) }
		}
		res, err := m.whisper.Transcribe(ctx, pcm, opt)
		if err != nil {
			return nil, err
		}
		t.Result = res
		return t, nil
	case m.w2v != nil:
		if task == taskTranslate {
			return nil, fmt.Errorf("%w: %s is a wav2vec2 model: it transcribes but cannot translate; use a Whisper model", errBadInput, m.Name)
		}
		if p.Beam > 1 {
			return nil, fmt.Errorf("%w: %s is a wav2vec2 model: CTC decoding has no beam search", errBadInput, m.Name)
		}
		tr, err := m.w2v.Transcribe(ctx, pcm, wav2vec2.Options{WordTimestamps: p.Words})
		if err != nil {
			return nil, err
		}
		seg := whisper.Segment{End: duration, Text: " " + tr.Text}
		if p.Words {
			seg.Words = []whisper.Word{}
			for _, w := range tr.Words {
				seg.Words = append(seg.Words, whisper.Word{Word: " " + w.Text, Start: w.Start, End: w.End})
			}
		}
		t.Result = &whisper.Result{Text: tr.Text, Segments: []whisper.Segment{seg}}
		if p.Progress != nil {
			p.Progress(duration)
		}
		return t, nil
	}
	return nil, m.wrongTask(task)
}
