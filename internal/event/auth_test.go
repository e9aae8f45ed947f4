package event

import (
	"encoding/json"
	"testing"
)

func TestAuthJSON(t *testing.T) {
	for _, tc := range []struct {
		f    Field
		want string
		text string
	}{
		{AuthField("ftp", "root", "toor", false),
			`{"protocol":"ftp","user":"root","password":"toor","success":false}`, "ftp user=root password=toor"},
		{AuthHashField("smb", "bob", "bob::D:11:22:33", "netntlmv2", false),
			`{"protocol":"smb","user":"bob","hash":"bob::D:11:22:33","format":"netntlmv2","success":false}`, "smb user=bob hash=netntlmv2:bob::D:11:22:33"},
		{AuthField("ssh", "pi", "", true),
			`{"protocol":"ssh","user":"pi","success":true}`, "ssh user=pi password= success"},
	} {
		b, err := appendJSONValue(nil, tc.f.Value)
		if err != nil || string(b) != tc.want {
			t.Errorf("json %s, %v; want %s", b, err, tc.want)
		}
		var back Auth
		if err := json.Unmarshal(b, &back); err != nil || back != tc.f.Value.(Auth) {
			t.Errorf("round trip %+v, %v", back, err)
		}
		if s := valueString(tc.f.Value); s != tc.text {
			t.Errorf("text %q, want %q", s, tc.text)
		}
	}
}
