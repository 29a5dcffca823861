package blip

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "blip",
		Architectures: []string{"BlipForConditionalGeneration", "BlipForQuestionAnswering"},
		ModelTypes:    []string{"blip"},
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

// AsTask returns m for the front door: a task.Captioner for a captioning
// checkpoint, a task.Answerer for a question-answering one; path fills its
// Info. Closing it closes m.
func (m *Model) AsTask(path string) task.Model {
	info := task.Info{Family: "blip", Architecture: m.Task().String(), Path: path}
	if m.Task() == TaskQuestionAnswering {
		info.Tasks = []string{task.VQA}
		return &taskAnswerer{taskModel{m, info}}
	}
	info.Tasks = []string{task.Caption}
	return &taskCaptioner{taskModel{m, info}}
}

type taskModel struct {
	m    *Model
	info task.Info
}

func (t *taskModel) Info() task.Info { return t.info }
func (t *taskModel) Close() error    { return t.m.Close() }

// Model returns the BLIP model behind a front-door model.
func (t *taskModel) Model() *Model { return t.m }

func checkGeneration(beams, maxNew int) error {
	if beams < 0 || maxNew < 0 {
		return fmt.Errorf("%w: beams and max tokens must not be negative", ErrInput)
	}
	return nil
}

type taskCaptioner struct{ taskModel }

func (t *taskCaptioner) Caption(ctx context.Context, img image.Image, o task.CaptionOptions) (*task.CaptionResult, error) {
	if err := checkGeneration(o.Beams, o.MaxNewTokens); err != nil {
		return nil, err
	}
	opt := Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens}
	var caps []Caption
	var err error
	if o.Prompt != "" {
		caps, err = t.m.CaptionWithPrefix(ctx, []image.Image{img}, o.Prompt, opt)
	} else {
		caps, err = t.m.Caption(ctx, []image.Image{img}, opt)
	}
	if err != nil {
		return nil, err
	}
	return &task.CaptionResult{Text: caps[0].Text, IDs: caps[0].IDs}, nil
}

type taskAnswerer struct{ taskModel }

func (t *taskAnswerer) Answer(ctx context.Context, img image.Image, question string, o task.AnswerOptions) (*task.AnswerResult, error) {
	if strings.TrimSpace(question) == "" {
		return nil, fmt.Errorf("%w: no question", ErrInput)
	}
	if err := checkGeneration(o.Beams, o.MaxNewTokens); err != nil {
		return nil, err
	}
	ans, err := t.m.Answer(ctx, []image.Image{img}, []string{question}, Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	return &task.AnswerResult{Question: question, Text: ans[0].Text, IDs: ans[0].IDs}, nil
}
