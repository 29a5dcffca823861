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
		Load:          task.Loader(Load, (*Model).AsTask),
	})
}

// AsTask returns m for the front door: a task.Captioner for a captioning
// checkpoint, a task.Answerer for a question-answering one; path fills its
// Info. Closing it closes m; its Model method returns m.
func (m *Model) AsTask(path string) task.Model {
	info := task.Info{Family: "blip", Architecture: m.Task().String(), Path: path}
	if m.Task() == TaskQuestionAnswering {
		info.Tasks = []string{task.VQA}
		return &taskAnswerer{task.NewAdapter(m, info)}
	}
	info.Tasks = []string{task.Caption}
	return &taskCaptioner{task.NewAdapter(m, info)}
}

type taskCaptioner struct{ task.Adapter[*Model] }

func (t *taskCaptioner) Caption(ctx context.Context, img image.Image, o task.CaptionOptions) (*task.CaptionResult, error) {
	if err := (task.GenerationLimits{}).Check(ErrInput, o); err != nil {
		return nil, err
	}
	opt := Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens}
	var caps []Caption
	var err error
	if o.Prompt != "" {
		caps, err = t.Model().CaptionWithPrefix(ctx, []image.Image{img}, o.Prompt, opt)
	} else {
		caps, err = t.Model().Caption(ctx, []image.Image{img}, opt)
	}
	if err != nil {
		return nil, err
	}
	return &task.CaptionResult{Text: caps[0].Text, IDs: caps[0].IDs}, nil
}

type taskAnswerer struct{ task.Adapter[*Model] }

func (t *taskAnswerer) Answer(ctx context.Context, img image.Image, question string, o task.AnswerOptions) (*task.AnswerResult, error) {
	if strings.TrimSpace(question) == "" {
		return nil, fmt.Errorf("%w: no question", ErrInput)
	}
	if err := (task.GenerationLimits{}).Check(ErrInput, o); err != nil {
		return nil, err
	}
	ans, err := t.Model().Answer(ctx, []image.Image{img}, []string{question}, Options{NumBeams: o.Beams, MaxNewTokens: o.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	return &task.AnswerResult{Question: question, Text: ans[0].Text, IDs: ans[0].IDs}, nil
}
