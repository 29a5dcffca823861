package blip2

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "blip2",
		Architectures: []string{"Blip2ForConditionalGeneration"},
		ModelTypes:    []string{"blip-2"},
		Tasks:         []string{task.Caption, task.VQA},
		Load: func(dir string, o task.LoadOptions) (task.Model, error) {
			m, err := Load(dir, o.NN()...)
			if err != nil {
				return nil, err
			}
			return m.AsTask(dir), nil
		},
	})
}

// AsTask returns m for the front door: a task.Captioner (captions,
// unconditional or continuing CaptionOptions.Prompt) and a task.Answerer
// (the "Question: … Answer:" prompt) whose texts are trimmed of the
// leading space OPT's tokens carry; path fills its Info. Closing it closes
// m.
func (m *Model) AsTask(path string) task.Model {
	return &taskModel{m: m, info: task.Info{
		Family: "blip2", Architecture: "Blip2ForConditionalGeneration", Path: path,
		Tasks: []string{task.Caption, task.VQA},
	}}
}

type taskModel struct {
	m    *Model
	info task.Info
}

var (
	_ task.Captioner     = (*taskModel)(nil)
	_ task.Answerer      = (*taskModel)(nil)
	_ task.OptionChecker = (*taskModel)(nil)
)

func (t *taskModel) Info() task.Info { return t.info }
func (t *taskModel) Close() error    { return t.m.Close() }

// Model returns the BLIP-2 model behind a front-door model.
func (t *taskModel) Model() *Model { return t.m }

// CheckOptions tells whether the model honours the options of a task
// (task.OptionChecker).
func (t *taskModel) CheckOptions(opt any) error {
	var beams, maxNew int
	switch o := opt.(type) {
	case task.CaptionOptions:
		beams, maxNew = o.Beams, o.MaxNewTokens
	case task.AnswerOptions:
		beams, maxNew = o.Beams, o.MaxNewTokens
	default:
		return nil
	}
	switch {
	case beams < 0:
		return &task.OptionError{Option: "beams", Err: fmt.Errorf("%w: beams must not be negative", ErrInput)}
	case beams > generate.MaxBeams:
		return &task.OptionError{Option: "beams", Err: fmt.Errorf("%w: %d beams is over the limit of %d", ErrInput, beams, generate.MaxBeams)}
	case maxNew < 0:
		return &task.OptionError{Option: "max_new_tokens", Err: fmt.Errorf("%w: max tokens must not be negative", ErrInput)}
	case maxNew > t.m.cfg.Text.MaxPositions:
		return &task.OptionError{Option: "max_new_tokens", Err: fmt.Errorf("%w: %d new tokens is over the limit of the language model's %d positions", ErrInput, maxNew, t.m.cfg.Text.MaxPositions)}
	}
	return nil
}

func (t *taskModel) Caption(ctx context.Context, img image.Image, o task.CaptionOptions) (*task.CaptionResult, error) {
	if err := t.CheckOptions(o); err != nil {
		return nil, err
	}
	r, err := t.m.Caption(ctx, img, o.Prompt, Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	return &task.CaptionResult{Text: strings.TrimSpace(r.Text), IDs: r.IDs}, nil
}

func (t *taskModel) Answer(ctx context.Context, img image.Image, question string, o task.AnswerOptions) (*task.AnswerResult, error) {
	if strings.TrimSpace(question) == "" {
		return nil, fmt.Errorf("%w: no question", ErrInput)
	}
	if err := t.CheckOptions(o); err != nil {
		return nil, err
	}
	r, err := t.m.Answer(ctx, img, question, Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	return &task.AnswerResult{Question: question, Text: strings.TrimSpace(r.Text), IDs: r.IDs}, nil
}
