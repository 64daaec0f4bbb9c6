# Sourced by nginx's auto/make after it wrote objs/Makefile: the module is
# relinked when the certinext core library changes, and its object records
# (-MMD -MP) and rebuilds on the certinext headers it includes.
cin_obj=$NGX_OBJS/addon/ngx_certinext/ngx_http_certinext_module.o

cat << END                                                >> $NGX_MAKEFILE

$NGX_OBJS/ngx_http_certinext_module$ngx_modext:	$CIN_BUILD/libcertinext.a

$cin_obj:	CFLAGS += -MMD -MP

-include $NGX_OBJS/addon/ngx_certinext/ngx_http_certinext_module.d

END
