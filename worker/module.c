/* module.c: the legacy module: loading, options, init, and the MANIFEST slidged needs.
 *
 * The module is a shared object exporting one symbol, slidge_module_v1 (legacy.h). It is
 * opened with RTLD_NOW (every symbol it needs from the worker, the slidge_* API exported
 * with export_dynamic, is resolved now, not in the middle of a session) and RTLD_LOCAL
 * (its own symbols stay out of the global namespace). slidge's BaseGateway defaults for
 * the attributes a module leaves NULL are applied here, once, so that slidged never has
 * to know them. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "cmd.h"
#include "log.h"
#include "worker.h"

struct slidge_module *module;

static void *dl;
static const char **opt_values;   /* parallel to module->options */
static size_t nopts;

/* slidge's BaseGateway defaults (slidge/core/gateway.py). */
static const char default_welcome[] =
    "Thank you for registering. Type 'help' to list the available commands, "
    "or just start messaging away!";
static const char default_instructions[] = "Enter your credentials";
static const char default_search_title[] = "Search for legacy contacts";

static const struct slidge_form_field default_registration_fields[] = {
	{ .var = "username", .label = "User name", .type = "text-single", .required = 1 },
	{ .var = "password", .label = "Password", .type = "text-private", .required = 1 },
	{ .var = NULL },
};

static const struct slidge_form_field default_search_fields[] = {
	{ .var = "first", .label = "First name", .type = "text-single", .required = 1 },
	{ .var = "last", .label = "Last name", .type = "text-single", .required = 1 },
	{ .var = "phone", .label = "Phone number", .type = "text-single", .required = 0 },
	{ .var = NULL },
};

void
module_load(const char *name)
{
	char path[4096];
	const char *dir;
	int n;

	if (strchr(name, '/') != NULL) {
		n = snprintf(path, sizeof path, "%s", name);
	} else {
		if ((dir = getenv("SLIDGE_MODULE_DIR")) == NULL || *dir == '\0')
			dir = SLIDGE_MODULEDIR;
		n = snprintf(path, sizeof path, "%s/%s.so", dir, name);
	}
	if (n < 0 || (size_t)n >= sizeof path)
		fatalx("module path too long: %s", name);
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		fatalx("cannot load the module %s: %s", path, dlerror());
	if ((module = dlsym(dl, SLIDGE_MODULE_SYMBOL)) == NULL)
		fatalx("%s does not export %s", path, SLIDGE_MODULE_SYMBOL);
	if (module->abi != SLIDGE_LEGACY_ABI)
		fatalx("%s was built for module ABI %u, this worker speaks %d", path,
		    module->abi, SLIDGE_LEGACY_ABI);
	if (module->name == NULL || module->component_name == NULL)
		fatalx("%s has no name or no component_name", path);
	for (nopts = 0; module->options != NULL && module->options[nopts].name != NULL; nopts++)
		;
	if (nopts > 0 && (opt_values = calloc(nopts, sizeof *opt_values)) == NULL)
		fatal("calloc");
	log_debug("loaded module %s %s from %s", module->name,
	    module->version ? module->version : "", path);
}

static ssize_t
option_index(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < nopts; i++)
		if (strlen(module->options[i].name) == len &&
		    memcmp(module->options[i].name, name, len) == 0)
			return (ssize_t)i;
	return -1;
}

void
module_parse_options(int argc, char **argv)
{
	const char *arg, *eq, *value;
	ssize_t idx;
	size_t len;
	int i;

	/* Only "--name value" and "--name=value" for names the module declares: anything
	 * else is a configuration mistake the operator must see at once. */
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			log_error("unexpected module argument: %s", arg);
			exit(2);
		}
		arg += 2;
		if ((eq = strchr(arg, '=')) != NULL) {
			len = (size_t)(eq - arg);
			value = eq + 1;
		} else {
			len = strlen(arg);
			value = NULL;
		}
		if ((idx = option_index(arg, len)) < 0) {
			log_error("unknown module option --%.*s", (int)len, arg);
			exit(2);
		}
		if (value == NULL) {
			if (i + 1 >= argc) {
				log_error("module option --%s needs a value", arg);
				exit(2);
			}
			value = argv[++i];
		}
		opt_values[idx] = value;
	}
}

const char *
module_option(const char *name)
{
	ssize_t idx;

	if (name == NULL || (idx = option_index(name, strlen(name))) < 0)
		return NULL;
	return opt_values[idx] != NULL ? opt_values[idx] : module->options[idx].value;
}

void
module_init(void)
{
	if (module->init != NULL && module->init(module) < 0) {
		log_error("the module %s failed to initialise", module->name);
		exit(2);
	}
	if (module->registration_type != SLIDGE_SINGLE_STEP_FORM &&
	    module->registration_type != SLIDGE_TWO_FACTOR_CODE &&
	    module->registration_type != SLIDGE_QRCODE) {
		log_error("the module %s has an unknown registration type %d", module->name,
		    (int)module->registration_type);
		exit(2);
	}
}

const char *
module_welcome_message(void)
{
	return module->welcome_message != NULL ? module->welcome_message : default_welcome;
}

void
module_unload(void)
{
	/* The module is not dlclose'd: it may have left atexit handlers or library state
	 * behind, and the process is about to end anyway. */
	free(opt_values);
	opt_values = NULL;
	nopts = 0;
}

/* One PROTO_FIELD_* row per field, options flattened as value,label pairs. */
static int
fields_table(const struct slidge_form_field *f, struct proto_table *t)
{
	struct proto_list row = { 0 };
	const char *const *o;
	int rc = -1;

	for (; f->var != NULL; f++) {
		if (proto_list_add(&row, f->var) < 0 ||
		    proto_list_add(&row, f->type ? f->type : "text-single") < 0 ||
		    proto_list_add(&row, f->label ? f->label : "") < 0 ||
		    proto_list_add(&row, f->required ? "1" : "0") < 0 ||
		    proto_list_add(&row, f->value ? f->value : "") < 0 ||
		    proto_list_add(&row, f->desc ? f->desc : "") < 0)
			goto done;
		for (o = f->options; o != NULL && o[0] != NULL; o += 2) {
			if (proto_list_add(&row, o[0]) < 0 ||
			    proto_list_add(&row, o[1] ? o[1] : o[0]) < 0)
				goto done;
			if (o[1] == NULL)
				break;   /* an odd list: its last value is its own label */
		}
		if (proto_table_add(t, &row) < 0)
			goto done;
		proto_list_free(&row);
		row = (struct proto_list){ 0 };
	}
	rc = 0;
done:
	proto_list_free(&row);
	return rc;
}

int
module_send_manifest(void)
{
	struct proto_val v[MANIFEST__NFIELDS] = { 0 };
	struct proto_table reg = { 0 }, search = { 0 };
	struct proto_list ports = { 0 };
	char port[8];
	const uint16_t *p;
	int rc = -1;

	if (fields_table(module->registration_fields ? module->registration_fields :
	    default_registration_fields, &reg) < 0 ||
	    fields_table(module->search_fields ? module->search_fields :
	    default_search_fields, &search) < 0)
		goto done;
	for (p = module->connect_ports; p != NULL && *p != 0; p++) {
		snprintf(port, sizeof port, "%u", (unsigned)*p);
		if (proto_list_add(&ports, port) < 0)
			goto done;
	}
	v[MANIFEST_module].s = module->name;
	v[MANIFEST_module_version].s = module->version ? module->version : "";
	v[MANIFEST_component_name].s = module->component_name;
	v[MANIFEST_component_type].s = module->component_type ? module->component_type : "";
	v[MANIFEST_registration_type].u = (uint64_t)module->registration_type;
	v[MANIFEST_registration_instructions].s = module->registration_instructions ?
	    module->registration_instructions : default_instructions;
	v[MANIFEST_registration_fields].table = reg;
	v[MANIFEST_search_title].s = module->search_title ? module->search_title :
	    default_search_title;
	v[MANIFEST_search_instructions].s = module->search_instructions ?
	    module->search_instructions : "";
	v[MANIFEST_search_fields].table = search;
	v[MANIFEST_ports].list = ports;
	v[MANIFEST_welcome_message].s = module_welcome_message();
	rc = worker_send(PROTO_MANIFEST, v);
	/* The commands go with it (commands.def): slidged answers access errors and help
	 * for them before any session starts. */
	if (rc == 0)
		rc = cmd_send_table();
done:
	if (rc < 0)
		log_error("cannot build the manifest of the module %s", module->name);
	proto_table_free(&reg);
	proto_table_free(&search);
	proto_list_free(&ports);
	return rc;
}
