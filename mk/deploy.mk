# Local Kubernetes stack (kind + helmfile). Included from the Makefile.
# Needs on the host: docker, kind, kubectl, helm, helmfile (none of them is used by `make test`;
# tests/deploy/test_make_deploy.py runs these targets with stand-ins).
KIND ?= kind
KUBECTL ?= kubectl
HELMFILE ?= helmfile
DOCKER ?= docker
KIND_CLUSTER ?= auth-sidecar
HELMFILE_ENV ?= default
SIDECAR_IMAGE ?= auth-sidecar:dev
DEPLOY_ENV_FILE ?= .run/deploy.env

# `deploy` is also a directory: without .PHONY make would call the target up to date.
.PHONY: kind-up deploy kind-down

define require-tools
	@for t in $(1); do command -v $$t >/dev/null || { echo "missing tool: $$t (see docs/deploy.md)" >&2; exit 1; }; done
endef

kind-up:
	$(call require-tools,$(KIND) $(KUBECTL) $(DOCKER))
	$(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)' || \
	  $(KIND) create cluster --name '$(KIND_CLUSTER)' --config deploy/kind.yaml --wait 120s
	$(KUBECTL) config use-context 'kind-$(KIND_CLUSTER)'
	bash deploy/coredns-rewrite.sh

# The default environment also builds the image and loads it into kind: it needs kind too.
DEPLOY_TOOLS := $(KUBECTL) $(HELMFILE) helm $(if $(filter default,$(HELMFILE_ENV)),$(DOCKER) $(KIND))

deploy:
	$(call require-tools,$(DEPLOY_TOOLS))
	@if [ '$(HELMFILE_ENV)' = default ]; then \
	  DEPLOY_ENV_FILE='$(DEPLOY_ENV_FILE)' bash deploy/dev-secrets.sh && \
	  $(DOCKER) build -t '$(SIDECAR_IMAGE)' . && \
	  $(KIND) load docker-image '$(SIDECAR_IMAGE)' --name '$(KIND_CLUSTER)'; \
	fi
	@# default: the generated local secrets; production: the caller's environment only.
	if [ '$(HELMFILE_ENV)' = default ]; then set -a && . '$(DEPLOY_ENV_FILE)' && set +a; fi && \
	  $(HELMFILE) -e '$(HELMFILE_ENV)' apply
	@echo "default environment: open http://localhost/ (demo login printed above)"

kind-down:
	$(call require-tools,$(KIND))
	$(KIND) delete cluster --name '$(KIND_CLUSTER)'
