# Local Kubernetes stack (kind + helmfile). Included from the Makefile.
# Needs on the host: docker, kind, kubectl, helm, helmfile (none of them is used by `make test`).
KIND ?= kind
KUBECTL ?= kubectl
HELMFILE ?= helmfile
DOCKER ?= docker
KIND_CLUSTER ?= auth-sidecar
HELMFILE_ENV ?= default
SIDECAR_IMAGE ?= auth-sidecar:dev
DEPLOY_ENV_FILE ?= .run/deploy.env

define require-tools
	@for t in $(1); do command -v $$t >/dev/null || { echo "missing tool: $$t (see docs/deploy.md)" >&2; exit 1; }; done
endef

kind-up:
	$(call require-tools,$(KIND) $(KUBECTL) $(DOCKER))
	$(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)' || \
	  $(KIND) create cluster --name '$(KIND_CLUSTER)' --config deploy/kind.yaml --wait 120s
	$(KUBECTL) config use-context 'kind-$(KIND_CLUSTER)'
	bash deploy/coredns-rewrite.sh

deploy:
	$(call require-tools,$(KUBECTL) $(HELMFILE) helm $(DOCKER))
	@if [ '$(HELMFILE_ENV)' = default ]; then \
	  bash deploy/dev-secrets.sh && \
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
