/* json.c: the configuration, a plan and the status as JSON (the one form the CLI prints, as a
 * table or as stable JSON). */
#include "internal.h"
#include "util/output.h"

static int entry_json(const struct cfg_entry *e, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	if (!o || json_add_str(o, "key", e->key) < 0 || json_add_str(o, "value", e->value) < 0 ||
	    json_add_str(o, "file", e->file) < 0 || json_add_int(o, "line", e->line) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

int cfg_to_json(const struct cfg *c, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *files = json_object_new_array(),
				   *objs = json_object_new_array();
	int r;

	if (!o || !files || !objs)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_files; i++)
		if (json_object_array_add(files, json_object_new_string(c->files[i])) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < c->n_objects; i++) {
		const struct cfg_object *ob = &c->objects[i];
		_cleanup_json_ json_object *j = json_object_new_object(), *set = json_object_new_array();
		if (!j || !set)
			return -ENOMEM;
		for (size_t k = 0; k < ob->n_entries; k++) {
			json_object *e = NULL;
			if ((r = entry_json(&ob->entries[k], &e)) < 0)
				return r;
			if (json_object_array_add(set, e) < 0)
				return json_object_put(e), -ENOMEM;
		}
		if (json_add_str(j, "kind", cfg_kind_name(ob->kind)) < 0 || json_add_str(j, "id", ob->id) < 0 ||
		    json_add_str(j, "file", ob->file) < 0 || json_add_int(j, "line", ob->line) < 0 ||
		    json_add(j, "settings", TAKE_PTR(set)) < 0 || json_object_array_add(objs, j) < 0)
			return -ENOMEM;
		j = NULL;
	}
	if (json_add(o, "files", TAKE_PTR(files)) < 0 || json_add(o, "objects", TAKE_PTR(objs)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

static const char *const action_names[] = { "numvfs", "autoprobe", "vf-set", "bind", "release" };

static int strv_json(char **v, json_object **ret)
{
	json_object *a = json_object_new_array();
	if (!a)
		return -ENOMEM;
	for (char **p = v; p && *p; p++)
		if (json_object_array_add(a, json_object_new_string(*p)) < 0) {
			json_object_put(a);
			return -ENOMEM;
		}
	*ret = a;
	return 0;
}

int cfg_plan_to_json(const struct cfg_plan *p, bool with_steps, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *steps = json_object_new_array(),
				   *objs = json_object_new_array();
	int r = 0;

	if (!o || !steps || !objs)
		return -ENOMEM;
	for (size_t i = 0; with_steps && i < p->n_steps; i++) {
		const struct cfg_step *s = &p->steps[i];
		json_object *j = json_object_new_object();
		if (!j || json_object_array_add(steps, j) < 0)
			return json_object_put(j), -ENOMEM;
		r |= json_add_str(j, "action", action_names[s->action]);
		r |= json_add_str(j, "object", s->obj->id);
		r |= json_add_str(j, "device", s->target[0] ? s->target : NULL);
		r |= json_add_str(j, "text", s->text);
		if (r)
			return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_states; i++) {
		const struct cfg_object_state *st = &p->states[i];
		json_object *j = json_object_new_object(), *d = NULL, *devs = NULL;
		if (!j || json_object_array_add(objs, j) < 0)
			return json_object_put(j), -ENOMEM;
		if (strv_json(st->drift, &d) < 0 || strv_json(st->devices, &devs) < 0) {
			json_object_put(d);
			return -ENOMEM;
		}
		r |= json_add_str(j, "kind", cfg_kind_name(st->obj->kind));
		r |= json_add_str(j, "id", st->obj->id);
		r |= json_add_str(j, "state", cfg_state_to_string(st->state));
		r |= json_add_str(j, "why", st->why);
		r |= json_add(j, "drift", d);
		r |= json_add(j, "devices", devs);
		r |= json_add_str(j, "file", st->obj->file);
		r |= json_add_int(j, "line", st->obj->line);
		if (r)
			return -ENOMEM;
	}
	if (with_steps && json_add(o, "steps", TAKE_PTR(steps)) < 0)
		return -ENOMEM;
	if (json_add(o, "objects", TAKE_PTR(objs)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}
