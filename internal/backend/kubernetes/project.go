package kubernetes

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/koya-dev/koya/errs"
)

// Metadata addresses no task may reach (cloud instance credentials).
var metadataBlocks = []networkingv1.IPBlock{
	{CIDR: "0.0.0.0/0", Except: []string{"169.254.169.254/32"}},
	{CIDR: "::/0", Except: []string{"fd00:ec2::254/128"}},
}

// projectObjects are the namespace of a project's pods and what every
// pod there relies on: the ServiceAccount koya-task (no API token), and
// the NetworkPolicies: no ingress to any task; tasks with network: none
// reach only DNS and the control plane; the others reach anything but
// the cloud metadata addresses.
func (d *Driver) projectObjects(project string) (*corev1.Namespace, *corev1.ServiceAccount, []*networkingv1.NetworkPolicy) {
	ns := d.Namespace(project)
	labels := func() map[string]string {
		return map[string]string{LabelManagedBy: ManagedBy, LabelInstance: d.o.Instance, LabelProject: labelValue(project)}
	}
	nsLabels := labels()
	nsLabels["pod-security.kubernetes.io/enforce"] = "restricted"
	nsLabels["pod-security.kubernetes.io/enforce-version"] = "latest"
	f := false
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels()}
	}
	koyaPods := metav1.LabelSelector{MatchLabels: map[string]string{LabelManagedBy: ManagedBy}}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	dns := intstr.FromInt32(53)
	toDNS := networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
	}
	none := []networkingv1.NetworkPolicyEgressRule{toDNS}
	if len(d.serverPeers) > 0 {
		rule := networkingv1.NetworkPolicyEgressRule{To: d.serverPeers}
		if d.serverPort > 0 {
			port := intstr.FromInt32(d.serverPort)
			rule.Ports = []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}
		}
		none = append(none, rule)
	}
	var anywhere []networkingv1.NetworkPolicyPeer
	for _, b := range metadataBlocks {
		anywhere = append(anywhere, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: b.CIDR, Except: append([]string(nil), b.Except...)}})
	}
	policies := []*networkingv1.NetworkPolicy{
		{ObjectMeta: meta(PolicyNoIngress), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: koyaPods, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}},
		{ObjectMeta: meta(PolicyNetworkNone), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelManagedBy: ManagedBy, LabelNetwork: "none"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: none}},
		{ObjectMeta: meta(PolicyEgress), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelManagedBy: ManagedBy, LabelNetwork: "egress"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: anywhere}}}},
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels}},
		&corev1.ServiceAccount{ObjectMeta: meta(ServiceAccountName), AutomountServiceAccountToken: &f},
		policies
}

// ensureProject creates a project's namespace, ServiceAccount and
// NetworkPolicies once per driver (existing ones are brought up to date).
func (d *Driver) ensureProject(ctx context.Context, project string) error {
	d.mu.Lock()
	done := d.projects[project]
	d.mu.Unlock()
	if done {
		return nil
	}
	ns, sa, policies := d.projectObjects(project)
	c := d.client
	_, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Made by an operator (or an older koya): it must enforce
		// restricted too.
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}})
		_, err = c.CoreV1().Namespaces().Patch(ctx, ns.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		return kubeErr(err, "creating namespace %s", ns.Name)
	}
	if _, err := c.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return kubeErr(err, "creating service account %s/%s", ns.Name, sa.Name)
	}
	for _, p := range policies {
		_, err := c.NetworkingV1().NetworkPolicies(ns.Name).Create(ctx, p, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var old *networkingv1.NetworkPolicy
			if old, err = c.NetworkingV1().NetworkPolicies(ns.Name).Get(ctx, p.Name, metav1.GetOptions{}); err == nil {
				p.ResourceVersion = old.ResourceVersion
				_, err = c.NetworkingV1().NetworkPolicies(ns.Name).Update(ctx, p, metav1.UpdateOptions{})
			}
		}
		if err != nil && !apierrors.IsConflict(err) {
			return kubeErr(err, "creating network policy %s/%s", ns.Name, p.Name)
		}
	}
	d.mu.Lock()
	d.projects[project] = true
	d.mu.Unlock()
	return nil
}

// serverEgress is where network: none pods may still connect: the
// control plane's addresses (Options.ServerCIDRs, else the addresses of
// ServerURL's host, resolved once at New) and its port.
func serverEgress(serverURL string, cidrs []string) ([]networkingv1.NetworkPolicyPeer, int32, error) {
	var port int32
	var host string
	if serverURL != "" {
		u, err := url.Parse(serverURL)
		if err != nil || u.Host == "" {
			return nil, 0, errs.E(errs.Invalid, "kubernetes backend: server URL %q is not an absolute URL", serverURL)
		}
		host = u.Hostname()
		p := u.Port()
		if p == "" {
			p = map[string]string{"https": "443"}[u.Scheme]
			if p == "" {
				p = "80"
			}
		}
		n, _ := strconv.Atoi(p)
		port = int32(n)
	}
	if len(cidrs) == 0 && host != "" {
		ips := []net.IP{net.ParseIP(host)}
		if ips[0] == nil {
			var err error
			if ips, err = net.LookupIP(host); err != nil {
				return nil, 0, errs.Wrap(errs.Invalid, err, "kubernetes backend: resolving the server URL's host %q for the network policy of network: none pods (or give the control plane's addresses as CIDRs): %v", host, err)
			}
		}
		for _, ip := range ips {
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			cidrs = append(cidrs, (&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}).String())
		}
	}
	var peers []networkingv1.NetworkPolicyPeer
	for _, c := range cidrs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			return nil, 0, errs.E(errs.Invalid, "kubernetes backend: %q is not a CIDR", c)
		}
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c}})
	}
	return peers, port, nil
}
