export const NGINX_PREFIX = 'nginx.ingress.kubernetes.io/';
