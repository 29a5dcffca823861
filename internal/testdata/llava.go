package testdata

// LlavaCases is the llava fixture's cases.json, which the tests of the
// llava and llm packages read: the images, the <image> token, the
// generations transformers made (prompt, ids, texts) with their settings,
// and the teacher-forced case.
type LlavaCases struct {
	Images          []string         `json:"images"`
	ImageTokenIndex int              `json:"image_token_index"`
	Generate        GenerateSettings `json:"generate"`
	Cases           []struct {
		Image     string  `json:"image"`
		Prompt    string  `json:"prompt"`
		InputIDs  []int   `json:"input_ids"`
		IDs       []int   `json:"ids"`
		NewIDs    []int   `json:"new_ids"`
		MinMargin float64 `json:"min_margin"`
		Text      string  `json:"text"`
		FullText  string  `json:"full_text"`
	} `json:"cases"`
	TeacherForced struct {
		Image              string `json:"image"`
		Text               string `json:"text"`
		IDs                []int  `json:"ids"`
		ImageTokenPosition int    `json:"image_token_position"`
		NumPatches         int    `json:"num_patches"`
	} `json:"teacher_forced"`
}
