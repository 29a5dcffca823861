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
		Load:          task.Loader(Load, (*Model).AsTask),
	})
}

// AsTask returns m for the front door: a task.Captioner (captions,
// unconditional or continuing CaptionOptions.Prompt) and a task.Answerer
// (the "Question: … Answer:" prompt) whose texts are trimmed of the
// leading space OPT's tokens carry; path fills its Info. Closing it closes
// m; its Model method returns m.
func (m *Model) AsTask(path string) task.Model {
	return &taskModel{task.NewAdapter(m, task.Info{
		Family: "blip2", Architecture: "Blip2ForConditionalGeneration", Path: path,
		Tasks: []string{task.Caption, task.VQA},
	})}
}

type taskModel struct{ task.Adapter[*Model] }

var (
	_ task.Captioner     = (*taskModel)(nil)
	_ task.Answerer      = (*taskModel)(nil)
	_ task.OptionChecker = (*taskModel)(nil)
)

// CheckOptions tells whether the model honours the options of a task
// (task.OptionChecker).
func (t *taskModel) CheckOptions(opt any) error {
	limits := task.GenerationLimits{Beams: generate.MaxBeams, Positions: t.Model().cfg.Text.MaxPositions}
	return limits.Check(ErrInput, opt)
}

func (t *taskModel) Caption(ctx context.Context, img image.Image, o task.CaptionOptions) (*task.CaptionResult, error) {
	if err := t.CheckOptions(o); err != nil {
		return nil, err
	}
	r, err := t.Model().Caption(ctx, img, o.Prompt, Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens})
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
	r, err := t.Model().Answer(ctx, img, question, Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	return &task.AnswerResult{Question: question, Text: strings.TrimSpace(r.Text), IDs: r.IDs}, nil
}
