<?xml version="1.0" encoding="UTF-8"?>
<!--
  Koprik: shows OAI-PMH 2.0 responses readably in a web browser.
  The browser applies it through <?xml-stylesheet?>; harvesters ignore it.
  Records in oai_dc are shown as a table of elements, MARCXML as a table of fields, and other
  formats (MODS) as a tree of elements.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:oai="http://www.openarchives.org/OAI/2.0/"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:id="http://www.openarchives.org/OAI/2.0/oai-identifier"
    xmlns:prov="http://www.openarchives.org/OAI/2.0/provenance"
    xmlns:marc="http://www.loc.gov/MARC21/slim"
    exclude-result-prefixes="oai oai_dc dc id prov marc">

  <xsl:output method="html" encoding="UTF-8" indent="yes"/>


  <xsl:template match="/">
    <html>
      <head>
        <meta charset="UTF-8"/>
        <title>OAI-PMH <xsl:value-of select="oai:OAI-PMH/oai:request/@verb"/></title>
        <style>
          body { font-family: sans-serif; margin: 1.5em; color: #222; }
          nav a { margin-right: 1em; }
          code { white-space: pre; }
          table { border-collapse: collapse; margin: .5em 0 1.5em 0; }
          th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: left; vertical-align: top; }
          th { background: #eef; }
          .error { color: #a00; font-weight: bold; }
          .deleted { color: #888; }
          pre { background: #f6f6f6; padding: .5em; overflow-x: auto; }
        </style>
      </head>
      <body>
        <h1>OAI-PMH: <xsl:value-of select="oai:OAI-PMH/oai:request/@verb"/></h1>
        <nav>
          <a href="?verb=Identify">Identify</a>
          <a href="?verb=ListMetadataFormats">ListMetadataFormats</a>
          <a href="?verb=ListSets">ListSets</a>
          <a href="?verb=ListIdentifiers&amp;metadataPrefix=oai_dc">ListIdentifiers</a>
          <a href="?verb=ListRecords&amp;metadataPrefix=oai_dc">ListRecords</a>
        </nav>
        <p>Response date: <xsl:value-of select="oai:OAI-PMH/oai:responseDate"/></p>
        <xsl:apply-templates select="oai:OAI-PMH/oai:error"/>
        <xsl:apply-templates select="oai:OAI-PMH/oai:Identify | oai:OAI-PMH/oai:ListMetadataFormats
            | oai:OAI-PMH/oai:ListSets | oai:OAI-PMH/oai:GetRecord
            | oai:OAI-PMH/oai:ListIdentifiers | oai:OAI-PMH/oai:ListRecords"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="oai:error">
    <p class="error">Error <xsl:value-of select="@code"/>: <xsl:value-of select="."/></p>
  </xsl:template>

  <xsl:template match="oai:Identify">
    <table>
      <xsl:for-each select="*[not(self::oai:description)]">
        <tr><th><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
      </xsl:for-each>
      <xsl:for-each select="oai:description/id:oai-identifier">
        <tr><th>sampleIdentifier</th><td><xsl:value-of select="id:sampleIdentifier"/></td></tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="oai:ListMetadataFormats">
    <table>
      <tr><th>metadataPrefix</th><th>schema</th><th>namespace</th></tr>
      <xsl:for-each select="oai:metadataFormat">
        <tr>
          <td><a href="?verb=ListRecords&amp;metadataPrefix={oai:metadataPrefix}">
            <xsl:value-of select="oai:metadataPrefix"/></a></td>
          <td><xsl:value-of select="oai:schema"/></td>
          <td><xsl:value-of select="oai:metadataNamespace"/></td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="oai:ListSets">
    <table>
      <tr><th>setSpec</th><th>setName</th></tr>
      <xsl:for-each select="oai:set">
        <tr>
          <td><a href="?verb=ListRecords&amp;metadataPrefix=oai_dc&amp;set={oai:setSpec}">
            <xsl:value-of select="oai:setSpec"/></a></td>
          <td><xsl:value-of select="oai:setName"/></td>
        </tr>
      </xsl:for-each>
    </table>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:GetRecord | oai:ListRecords">
    <xsl:apply-templates select="oai:record"/>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:ListIdentifiers">
    <table>
      <tr><th>identifier</th><th>datestamp</th><th>sets</th></tr>
      <xsl:for-each select="oai:header">
        <tr>
          <xsl:if test="@status = 'deleted'"><xsl:attribute name="class">deleted</xsl:attribute></xsl:if>
          <td><xsl:apply-templates select="." mode="identifier"/></td>
          <td><xsl:value-of select="oai:datestamp"/></td>
          <td><xsl:for-each select="oai:setSpec"><xsl:value-of select="."/><xsl:text> </xsl:text></xsl:for-each></td>
        </tr>
      </xsl:for-each>
    </table>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:header" mode="identifier">
    <a>
      <xsl:attribute name="href">
        <xsl:text>?verb=GetRecord&amp;metadataPrefix=oai_dc&amp;identifier=</xsl:text>
        <xsl:call-template name="query-value">
          <xsl:with-param name="text" select="string(oai:identifier)"/>
        </xsl:call-template>
      </xsl:attribute>
      <xsl:value-of select="oai:identifier"/></a>
    <xsl:if test="@status = 'deleted'"> (deleted)</xsl:if>
  </xsl:template>

  <xsl:template match="oai:record">
    <h3><xsl:apply-templates select="oai:header" mode="identifier"/></h3>
    <p>Datestamp <xsl:value-of select="oai:header/oai:datestamp"/>; sets:
      <xsl:for-each select="oai:header/oai:setSpec"><xsl:value-of select="."/><xsl:text> </xsl:text></xsl:for-each></p>
    <xsl:apply-templates select="oai:metadata/*"/>
    <xsl:for-each select="oai:about/prov:provenance/prov:originDescription">
      <p>Harvested <xsl:value-of select="@harvestDate"/> from <xsl:value-of select="prov:baseURL"/>
        (<xsl:value-of select="prov:identifier"/>)</p>
    </xsl:for-each>
  </xsl:template>

  <!-- Priorities: the generic oai:metadata/* rule would otherwise win (0.5 against 0). -->
  <xsl:template match="oai_dc:dc" priority="1">
    <table>
      <xsl:for-each select="dc:*">
        <tr><th><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="marc:record" priority="1">
    <table>
      <tr><th>LDR</th><td></td><td><code><xsl:value-of select="marc:leader"/></code></td></tr>
      <xsl:for-each select="marc:controlfield">
        <tr><th><xsl:value-of select="@tag"/></th><td></td>
          <td><code><xsl:value-of select="."/></code></td></tr>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield">
        <tr><th><xsl:value-of select="@tag"/></th>
          <td><code><xsl:value-of select="translate(concat(@ind1, @ind2), ' ', '_')"/></code></td>
          <td><xsl:for-each select="marc:subfield">
            <b>$<xsl:value-of select="@code"/></b><xsl:text> </xsl:text>
            <xsl:value-of select="."/><xsl:text> </xsl:text>
          </xsl:for-each></td></tr>
      </xsl:for-each>
    </table>
  </xsl:template>

  <xsl:template match="oai:metadata/*">
    <ul><xsl:apply-templates select="." mode="tree"/></ul>
  </xsl:template>

  <xsl:template match="*" mode="tree">
    <li><b><xsl:value-of select="local-name()"/></b>
      <xsl:for-each select="@*[local-name() != 'schemaLocation']">
        <xsl:text> </xsl:text><i><xsl:value-of select="local-name()"/>=<xsl:value-of select="."/></i>
      </xsl:for-each>
      <xsl:if test="not(*)">: <xsl:value-of select="normalize-space(.)"/></xsl:if>
      <xsl:if test="*"><ul><xsl:apply-templates select="*" mode="tree"/></ul></xsl:if>
    </li>
  </xsl:template>

  <xsl:template match="oai:resumptionToken">
    <p>
      Records <xsl:value-of select="@cursor"/> onwards of <xsl:value-of select="@completeListSize"/>.
      <xsl:if test="string(.)">
        <a>
          <xsl:attribute name="href">
            <xsl:text>?verb=</xsl:text>
            <xsl:value-of select="/oai:OAI-PMH/oai:request/@verb"/>
            <xsl:text>&amp;resumptionToken=</xsl:text>
            <xsl:call-template name="query-value">
              <xsl:with-param name="text" select="string(.)"/>
            </xsl:call-template>
          </xsl:attribute>
          <xsl:text>Next page</xsl:text></a>
        (token valid until <xsl:value-of select="@expirationDate"/>)
      </xsl:if>
    </p>
  </xsl:template>

  <!-- $text percent-encoded for a URL query value. XSLT 1.0 cannot read code points, so only
       the ASCII characters that end or change a query value are encoded; Koprik's identifiers
       carry every other character percent-encoded already (a literal % is %25). -->
  <xsl:variable name="query-unsafe" select="'%&amp;+#=;? &quot;&lt;&gt;'"/>
  <xsl:variable name="query-codes" select="'25262B233D3B3F20223C3E'"/>
  <xsl:template name="query-value">
    <xsl:param name="text"/>
    <xsl:if test="$text">
      <xsl:variable name="c" select="substring($text, 1, 1)"/>
      <xsl:choose>
        <xsl:when test="contains($query-unsafe, $c)">
          <xsl:value-of select="concat('%', substring($query-codes,
              2 * string-length(substring-before($query-unsafe, $c)) + 1, 2))"/>
        </xsl:when>
        <xsl:otherwise><xsl:value-of select="$c"/></xsl:otherwise>
      </xsl:choose>
      <xsl:call-template name="query-value">
        <xsl:with-param name="text" select="substring($text, 2)"/>
      </xsl:call-template>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
