package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"

	"github.com/goformer/goformer/audio"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/task"
)

// errBadInput marks a request the model cannot take as given (an option the
// family does not have, a missing question). The server answers it with 400.
var errBadInput = task.ErrInput

// decodeImageBytes decodes an uploaded image; name is used in errors.
func decodeImageBytes(name string, data []byte) (image.Image, error) {
	img, err := goformer.DecodeImage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return img, nil
}

// Classification is the result of classify for one image.
type Classification struct {
	Image       string                `json:"image,omitempty"`
	Predictions []goformer.Prediction `json:"predictions"`
}

func (m *model) classify(ctx context.Context, img image.Image, k int) ([]goformer.Prediction, error) {
	c, ok := m.Model.(goformer.Classifier)
	if !ok || !m.Supports(goformer.TaskClassify) {
		return nil, m.wrongTask(goformer.TaskClassify)
	}
	return c.Classify(ctx, img, goformer.ClassifyOptions{TopK: k})
}

// ZeroShotResult is the result of zeroshot for one image.
type ZeroShotResult struct {
	Image  string                `json:"image,omitempty"`
	Labels []goformer.LabelScore `json:"labels"`
}

func (m *model) zeroShot(ctx context.Context, img image.Image, labels []string, template string, k int) ([]goformer.LabelScore, error) {
	z, ok := m.Model.(goformer.ZeroShotClassifier)
	if !ok {
		return nil, m.wrongTask(goformer.TaskZeroShot)
	}
	return z.ZeroShot(ctx, img, labels, goformer.ZeroShotOptions{Template: template, TopK: k})
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

func (m *model) embedder() (goformer.Embedder, error) {
	e, ok := m.Model.(goformer.Embedder)
	if !ok {
		return nil, m.wrongTask(goformer.TaskEmbed)
	}
	return e, nil
}

func (m *model) embedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	e, err := m.embedder()
	if err != nil {
		return nil, err
	}
	return e.EmbedTexts(ctx, texts)
}

func (m *model) embedImages(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	e, err := m.embedder()
	if err != nil {
		return nil, err
	}
	return e.EmbedImages(ctx, imgs)
}

// countTokens is the number of text tokens of texts (OpenAI's usage), for
// models whose tokenizer tells; 0 otherwise.
func countTokens(m *model, texts []string) int {
	tk, ok := m.Model.(interface {
		Tokenize([]string) (ids, mask [][]int, err error)
	})
	if !ok {
		return 0
	}
	_, mask, err := tk.Tokenize(texts)
	if err != nil {
		return 0
	}
	n := 0
	for _, row := range mask {
		for _, x := range row {
			n += x
		}
	}
	return n
}

// CaptionResult is the caption of one image.
type CaptionResult struct {
	Image string `json:"image,omitempty"`
	Text  string `json:"text"`
}

// captionParams are the caption options of every captioning family.
type captionParams = goformer.CaptionOptions

func (m *model) caption(ctx context.Context, img image.Image, p captionParams) (string, error) {
	c, ok := m.Model.(goformer.Captioner)
	if !ok {
		return "", m.wrongTask(goformer.TaskCaption)
	}
	res, err := c.Caption(ctx, img, p)
	if err != nil {
		return "", err
	}
	return res.Text, nil
}

// AnswerResult is the answer to a question about one image.
type AnswerResult struct {
	Image    string `json:"image,omitempty"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

func (m *model) answer(ctx context.Context, img image.Image, question string, p captionParams) (string, error) {
	a, ok := m.Model.(goformer.Answerer)
	if !ok {
		return "", m.wrongTask(goformer.TaskVQA)
	}
	if p.Prompt != "" {
		return "", fmt.Errorf("%w: question answering takes no prompt", errBadInput)
	}
	res, err := a.Answer(ctx, img, question, goformer.AnswerOptions{Beams: p.Beams, MaxNewTokens: p.MaxNewTokens})
	if err != nil {
		return "", err
	}
	return res.Text, nil
}

// transcribeParams are the speech options of every speech family.
type transcribeParams struct {
	// Task is "transcribe" or "translate".
	Task string
	// Language is a code ("en") or an English name; "" detects it.
	Language string
	// Prompt is text the first window continues.
	Prompt string
	// Temperature is the first sampling temperature; 0 is greedy.
	Temperature float64
	// Fallback is the temperature increment tried when a window fails
	// OpenAI's compression-ratio or log-probability thresholds; 0 disables
	// the fallback.
	Fallback float64
	// Beam > 1 uses beam search at temperature 0.
	Beam int
	// Words adds word-level timestamps.
	Words bool
	// Progress, when set, is called with the seconds of audio transcribed.
	Progress func(seconds float64)
}

// defaultFallback is -fallback's default: with -temperature 0 it is
// OpenAI's schedule 0, 0.2, …, 1.0.
const defaultFallback = 0.2

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

func (m *model) transcriber() (goformer.Transcriber, error) {
	t, ok := m.Model.(goformer.Transcriber)
	if !ok {
		return nil, m.wrongTask(goformer.TaskTranscribe)
	}
	return t, nil
}

// sampleRate is the rate the model's audio must be at.
func (m *model) sampleRate() int {
	if t, err := m.transcriber(); err == nil {
		return t.SampleRate()
	}
	return 16000
}

// decodeAudio reads an audio file's samples as mono at rate Hz.
func decodeAudio(r io.Reader, rate int) ([]float32, error) {
	pcm, _, err := decodeAudioWarn(r, rate)
	return pcm, err
}

// decodeAudioWarn is decodeAudio that also returns what the decoder
// noticed without failing (a WAV data chunk shorter than it claims: the
// samples present are used, as sox does).
func decodeAudioWarn(r io.Reader, rate int) ([]float32, []string, error) {
	b, err := audio.Decode(r)
	if err != nil {
		return nil, nil, err
	}
	pcm, err := audio.Resample(b.Mono(), b.SampleRate, rate)
	return pcm, b.Warnings, err
}

// Transcript is a transcription with what the output formats need.
type Transcript = goformer.Transcript

// options are the front door's options for p.
func (p transcribeParams) options() goformer.TranscribeOptions {
	opt := goformer.TranscribeOptions{
		Task: p.Task, Language: p.Language, Prompt: p.Prompt,
		Temperatures: temperatures(p.Temperature, p.Fallback),
		Beams:        p.Beam, Words: p.Words,
	}
	if p.Temperature == 0 && p.Fallback == defaultFallback {
		// OpenAI's default schedule: left to the family (a CTC model has
		// none, and refuses one given explicitly).
		opt.Temperatures = nil
	}
	return opt
}

func (m *model) transcribe(ctx context.Context, pcm []float32, p transcribeParams) (*Transcript, error) {
	name := p.Task
	if name == "" {
		name = goformer.TaskTranscribe
	}
	if name != goformer.TaskTranscribe && name != goformer.TaskTranslate {
		return nil, fmt.Errorf("%w: task %q (want transcribe or translate)", errBadInput, name)
	}
	if !m.Supports(name) {
		return nil, m.wrongTask(name)
	}
	t, err := m.transcriber()
	if err != nil {
		return nil, err
	}
	if p.Temperature < 0 || p.Temperature > 1 {
		return nil, fmt.Errorf("%w: temperature %g outside [0, 1]", errBadInput, p.Temperature)
	}
	opt := p.options()
	opt.Task = name
	if p.Progress != nil {
		opt.OnSegment = func(s goformer.Segment) { p.Progress(s.End) }
	}
	return t.Transcribe(ctx, pcm, opt)
}

// embeddingDim is the length of the model's embeddings when it tells (0
// otherwise).
func embeddingDim(m *model) int {
	if d, ok := m.Model.(interface{ Dim() int }); ok {
		return d.Dim()
	}
	return 0
}
